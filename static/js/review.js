// Review pages: keys are declared on the buttons (keys.js); "Comment" puts the focus in the
// comment box of its card, so that a reviewer can write one and press a decision key after.
for (const button of document.querySelectorAll(".comment-focus")) {
  button.addEventListener("click", () => document.getElementById(button.dataset.focus)?.focus());
}
const first = document.querySelector(".review-card");
if (first) first.setAttribute("aria-current", "true");
