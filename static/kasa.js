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

  // Live sections (an account's balance and transactions): refreshed every two seconds while
  // the page is visible, so a payment appears without reloading. Without JS, a reload does it.
  const live = document.querySelectorAll("[data-live]");
  if (live.length > 0) {
    setInterval(async () => {
      if (document.hidden) return;
      try {
        const response = await fetch(window.location.href, { credentials: "same-origin" });
        if (!response.ok) return;
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        live.forEach((section) => {
          const replacement = fresh.querySelector(`[data-live="${section.dataset.live}"]`);
          if (replacement) section.replaceChildren(...replacement.childNodes);
        });
      } catch (_) {
        // Offline for a moment: try again next time.
      }
    }, 2000);
  }
});
