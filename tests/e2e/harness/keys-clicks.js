// Harness bookkeeping: every click on a [data-clicks] element is recorded in order.
window.__clicks = [];
document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-clicks]");
  if (target) {
    window.__clicks.push(target.dataset.clicks);
    document.getElementById("clicks").textContent = window.__clicks.join(" ");
  }
});
