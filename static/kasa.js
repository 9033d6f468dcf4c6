// Kasa: small progressive enhancements. Every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Close the club switcher when clicking elsewhere.
  document.addEventListener("click", (event) => {
    document.querySelectorAll("details.switcher[open]").forEach((d) => {
      if (!d.contains(event.target)) d.removeAttribute("open");
    });
  });
  // Prevent double submission of forms (e.g. a slow sign-up).
  document.querySelectorAll("form").forEach((form) => {
    form.addEventListener("submit", () => {
      form.querySelectorAll("button[type=submit]").forEach((b) => {
        setTimeout(() => { b.disabled = true; }, 0);
      });
    });
  });
});
