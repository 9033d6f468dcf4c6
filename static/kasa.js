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

  // Live sections (an account's balance and transactions, the dashboard, the fee pages).
  // The page listens to its club's stream of changes (Server-Sent Events, `/t/{club}/live`):
  // on `changed` it fetches itself again in the background and replaces its live sections if
  // its stamp moved, so a payment appears as soon as it reaches Kasa. On `end` (the session
  // ended) it reloads, which leads to sign-in. If the stream cannot be opened or keeps failing
  // (a proxy that buffers or refuses it), the page polls its few-byte change stamp twice a
  // second while visible instead. Without JS, a reload does it.
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
    // Fetches the page again and replaces the live sections if its stamp is not `stamp`.
    // Whether the page is up to date afterwards (false: someone is using a live section).
    const refresh = async () => {
      if (Array.from(sections).some(inUse)) return false;
      const response = await fetch(window.location.href, {
        credentials: "same-origin", cache: "no-store", headers: { "X-Kasa-Refresh": "1" },
      });
      // Signed out (idle time-out) or no longer a member: show what a reload shows.
      if (response.redirected || response.status === 404) {
        window.location.reload();
        return true;
      }
      if (!response.ok) return true;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const next = page.getElementById("live");
      if (next && next.dataset.stamp === stamp) return true;
      // Someone is typing or choosing in a live section: keep their input; the page stays
      // behind and is brought up to date once they are done.
      if (Array.from(sections).some(inUse)) return false;
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
      if (next) stamp = next.dataset.stamp;
      return true;
    };

    // Streaming: one refresh at a time and at most one a second (a first sync changes the
    // club many times a second); changes heard meanwhile lead to one more.
    let busy = false;
    let again = false;
    let behind = null;
    let last = 0;
    let later = null;
    const changed = async () => {
      if (busy) { again = true; return; }
      if (document.hidden) { again = true; return; }
      const wait = last + 1000 - Date.now();
      if (wait > 0) {
        if (!later) later = setTimeout(() => { later = null; changed(); }, wait);
        return;
      }
      last = Date.now();
      busy = true;
      try {
        if (!(await refresh()) && !behind) {
          behind = setTimeout(() => { behind = null; changed(); }, 1000);
        }
      } catch (_) {
        // Offline for a moment: the stream's reconnection says `changed` again.
      } finally {
        busy = false;
        if (again) { again = false; changed(); }
      }
    };
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && again) { again = false; changed(); }
    });

    // Polling (the fallback): the stamp twice a second while visible.
    const poll = () => {
      live.dataset.mode = "poll";
      let polling = false;
      setInterval(async () => {
        if (document.hidden || polling) return;
        polling = true;
        try {
          const now = await fetch(live.dataset.stampUrl, { credentials: "same-origin", cache: "no-store" });
          if (now.redirected || now.status === 404) {
            window.location.reload();
            return;
          }
          if (!now.ok) return;
          const fresh = await now.text();
          if (fresh === stamp) return;
          await refresh();
        } catch (_) {
          // Offline for a moment: try again next time.
        } finally {
          polling = false;
        }
      }, 500);
    };

    if (!live.dataset.streamUrl || typeof EventSource === "undefined") {
      poll();
    } else {
      let source = null;
      let worked = false; // a stream has opened on this page
      let failures = 0;
      let silent = null;
      let polling = false;
      const stop = () => {
        if (source) source.close();
        source = null;
        clearTimeout(silent);
      };
      const fallBack = () => {
        stop();
        if (!polling) { polling = true; poll(); }
      };
      const listen = () => {
        if (source || polling) return;
        let ready = false;
        source = new EventSource(live.dataset.streamUrl);
        // A stream that says nothing within five seconds is held back on the way: poll.
        silent = setTimeout(() => { if (!ready) fallBack(); }, 5000);
        source.addEventListener("ready", async () => {
          clearTimeout(silent);
          ready = true;
          worked = true;
          failures = 0;
          live.dataset.mode = "stream";
          // Opened (or opened again): what changed before the stream listened is seen by
          // comparing the stamp once.
          try {
            const now = await fetch(live.dataset.stampUrl, { credentials: "same-origin", cache: "no-store" });
            if (now.redirected || now.status === 404 || (now.ok && (await now.text()) !== stamp)) changed();
          } catch (_) {
            // The stream tells what changes from now on.
          }
        });
        source.addEventListener("changed", changed);
        source.addEventListener("end", () => {
          stop();
          if (!leaving) window.location.reload();
        });
        source.addEventListener("error", () => {
          // Never opened (refused, not a stream), closed for good, or failing again and
          // again: poll. Otherwise the browser opens it again by itself.
          failures += 1;
          if (!worked || failures >= 3 || (source && source.readyState === EventSource.CLOSED)) fallBack();
        });
      };
      // A hidden page lets its stream go (browsers allow few connections per site over
      // HTTP/1.1) and listens again, catching up through its stamp, when it is shown.
      document.addEventListener("visibilitychange", () => {
        if (document.hidden) stop(); else listen();
      });
      // A page being left (a form sent, e.g. signing out) listens no more: its `end` must not
      // reload it over the navigation.
      let leaving = false;
      window.addEventListener("beforeunload", () => {
        leaving = true;
        stop();
        // Still here a moment later (the form gave a download): listen again.
        setTimeout(() => { leaving = false; listen(); }, 3000);
      });
      window.addEventListener("pageshow", (event) => {
        if (event.persisted) { leaving = false; listen(); }
      });
      if (!document.hidden) listen();
    }
  }
});
