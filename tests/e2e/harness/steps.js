// Fills step 2 of the steps harness from the query before render.js runs (module scripts run
// after this classic one): ?text=<step text>&repeat=<times, joined by spaces>.
const params = new URLSearchParams(location.search);
const text = params.get("text") ?? "";
const repeat = Number(params.get("repeat") ?? 1);
document.getElementById("item-2").textContent = Array(repeat).fill(text).join(" ");
