// GOV.UK Frontend's components, and the few things the pages do with script. Every page works
// without it: the code picker falls back to a search page, saving to the Save button.
import { initAll } from "./vendor/govuk-frontend.min.js";

document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();

function showPickers(root) {
  root.querySelectorAll("[data-picker]").forEach((el) => { el.hidden = false; });
  root.querySelectorAll(".moha-picker__fallback").forEach((el) => { el.hidden = true; });
}
showPickers(document);
document.body.addEventListener("htmx:afterSwap", (event) => showPickers(event.target.parentElement || document));

// A code chosen in the picker fills its field, which is then checked like a typed one.
document.body.addEventListener("click", (event) => {
  const choice = event.target.closest(".moha-picker__choice");
  if (!choice) return;
  const field = document.getElementById(choice.dataset.field);
  if (!field) return;
  field.value = choice.dataset.code;
  field.dispatchEvent(new Event("input", { bubbles: true }));
  field.dispatchEvent(new Event("change", { bubbles: true }));
  field.focus();
});

// Saving the form by its button while a draft save is on its way: wait for it, so the page's
// version is the one just saved, not a stale one.
document.body.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.classList.contains("htmx-request")) return;
  event.preventDefault();
  const submitter = event.submitter;
  form.addEventListener("htmx:afterRequest", () => {
    setTimeout(() => form.requestSubmit(submitter), 60);
  }, { once: true });
});
