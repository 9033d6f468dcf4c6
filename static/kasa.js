// Kasa: small progressive enhancements. Every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Close the club switcher when clicking elsewhere.
  document.addEventListener("click", (event) => {
    document.querySelectorAll("details.switcher[open]").forEach((d) => {
      if (!d.contains(event.target)) d.removeAttribute("open");
    });
  });

  // A form that came back with errors: the first field with one gets the focus, so a keyboard
  // or screen-reader user lands where the fix is needed.
  const invalid = document.querySelector("[aria-invalid=\"true\"]");
  if (invalid) invalid.focus();

  // Prevent double submission of forms (e.g. a slow sign-up).
  // Download forms stay usable: the page does not change after a download.
  document.querySelectorAll("form:not([data-download])").forEach((form) => {
    form.addEventListener("submit", () => {
      form.querySelectorAll("button[type=submit]").forEach((b) => {
        setTimeout(() => { b.disabled = true; }, 0);
      });
    });
  });

  // Print buttons (hidden without this file).
  document.querySelectorAll("[data-print]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  });

  // Live sections (an account's balance and transactions, the fee pages). The page polls a few-byte change
  // stamp twice a second while visible and reloads its live sections only when the stamp moved,
  // so a payment appears within a second of reaching Kasa. Without JS, a reload does it.
  // A live section the person is using: it holds the focus, or a field they changed.
  const inUse = (section) => {
    const active = document.activeElement;
    if (active && active !== document.body && section.contains(active)) return true;
    return Array.from(section.querySelectorAll("input, textarea, select")).some((field) => {
      if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
      if (field.tagName === "SELECT") return Array.from(field.options).some((o) => o.selected !== o.defaultSelected);
      return field.value !== field.defaultValue;
    });
  };
  const live = document.getElementById("live");
  const sections = document.querySelectorAll("[data-live]");
  if (live && sections.length > 0) {
    let stamp = live.dataset.stamp;
    let busy = false;
    setInterval(async () => {
      if (document.hidden || busy) return;
      busy = true;
      try {
        const now = await fetch(live.dataset.stampUrl, { credentials: "same-origin", cache: "no-store" });
        // Signed out (idle time-out) or no longer a member: show what a reload shows.
        if (now.redirected || now.status === 404) {
          window.location.reload();
          return;
        }
        if (!now.ok) return;
        const fresh = await now.text();
        if (fresh === stamp) return;
        // Someone is typing or choosing in a live section: keep their input; the stamp stays
        // behind, so the sections are brought up to date once they are done.
        if (Array.from(sections).some(inUse)) return;
        const response = await fetch(window.location.href, { credentials: "same-origin", cache: "no-store" });
        if (!response.ok) return;
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        sections.forEach((section) => {
          const replacement = page.querySelector(`[data-live="${section.dataset.live}"]`);
          if (replacement) section.replaceChildren(...replacement.childNodes);
        });
        // Tell screen readers the page changed (a payment arrived, a charge was paid).
        const status = document.getElementById("live-status");
        if (status) {
          status.textContent = "";
          setTimeout(() => { status.textContent = status.dataset.text; }, 100);
        }
        const next = page.getElementById("live");
        stamp = next ? next.dataset.stamp : fresh;
      } catch (_) {
        // Offline for a moment: try again next time.
      } finally {
        busy = false;
      }
    }, 500);
  }
});
