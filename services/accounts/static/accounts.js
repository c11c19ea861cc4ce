// The accounts pages: sign-in, sign-up, email verification and the account page. Every call
// goes to the JSON API under /accounts/api/ on this origin; the session is an HttpOnly cookie,
// and the account page asks the session for a short-lived access token.
"use strict";
(() => {
  const body = document.body;
  const page = body.dataset.page;
  const back = body.dataset.return || "/accounts/account";
  const $ = (id) => document.getElementById(id);
  const say = (text, kind) => { const m = $("message"); m.textContent = text; m.dataset.kind = kind || ""; };

  async function api(method, path, data, token) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(`/accounts/api${path}`, {
      method, headers, credentials: "same-origin", cache: "no-store",
      body: data === undefined ? undefined : JSON.stringify(data),
    });
    const answer = response.status === 204 ? {} : await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(answer.detail || response.statusText);
      Object.assign(error, answer, { status: response.status });
      throw error;
    }
    return answer;
  }

  function signin() {
    const form = $("signin");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = { email: $("email").value, password: $("password").value };
      if ($("otp").value) data.otp = $("otp").value;
      if ($("recovery").value) data.recovery_code = $("recovery").value;
      $("submit").disabled = true;
      try {
        await api("POST", "/signin", data);
        say("Signed in.", "ok");
        location.assign(back);
      } catch (error) {
        if (error.mfa_required) {
          $("second").hidden = false;
          $("otp").focus();
          say(error.detail, error.missing ? "" : "error");
        } else if (error.status === 403) {
          say(error.detail, "error");
          $("resend").hidden = false;
        } else {
          say(error.detail || error.message, "error");
        }
      } finally {
        $("submit").disabled = false;
      }
    });
    $("resend").addEventListener("click", async () => {
      await api("POST", "/verify/resend", { email: $("email").value, return: back }).catch(() => {});
      say("If that address needs confirming, a new link is on its way.", "ok");
    });
  }

  function signup() {
    $("signup").addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = { email: $("email").value, password: $("password").value, return: back };
      if ($("phone").value.trim()) data.phone = $("phone").value.trim();
      if ($("name").value.trim()) data.profile = { name: $("name").value.trim() };
      $("submit").disabled = true;
      try {
        await api("POST", "/signup", data);
        $("signup").hidden = true;
        $("sent").hidden = false;
        say("Almost done: confirm your email address.", "ok");
      } catch (error) {
        const tips = (error.suggestions || []).join(" ");
        say(`${error.detail || error.message}${tips ? ` ${tips}` : ""}`, "error");
      } finally {
        $("submit").disabled = false;
      }
    });
  }

  function verify() {
    const token = new URLSearchParams(location.search).get("token");
    history.replaceState(null, "", `${location.pathname}?return=${encodeURIComponent(back)}`);
    const confirm = async () => {
      $("confirm").hidden = true;
      try {
        await api("POST", "/verify", { token });
        $("verify-state").textContent = "Your email address is confirmed.";
        $("continue").hidden = false;
      } catch (error) {
        $("verify-state").textContent = error.detail || error.message;
        $("confirm").hidden = true;
      }
    };
    if (!token) { $("verify-state").textContent = "This link has no token."; return; }
    $("confirm").addEventListener("click", confirm);
    confirm();
  }

  async function account() {
    let token;
    try {
      token = (await api("POST", "/session/token")).access_token;
    } catch (error) {
      location.assign(`/accounts/signin?return=${encodeURIComponent(location.pathname)}`);
      return;
    }
    const call = (method, path, data) => api(method, path, data, token);
    const show = (me) => {
      $("who").textContent = me.email;
      $("verified").textContent = me.email_verified ? "(confirmed)" : "(not confirmed)";
      const p = me.profile || {};
      $("p-name").value = p.name || ""; $("p-given").value = p.given_name || "";
      $("p-family").value = p.family_name || ""; $("p-birthdate").value = p.birthdate || "";
      $("p-locale").value = p.locale || ""; $("p-phone").value = me.phone || "";
      $("mfa-state").textContent = me.second_factor ?
        `On (${me.recovery_codes_left} recovery codes left).` : "Off.";
      $("mfa-begin").hidden = me.second_factor; $("mfa-off").hidden = !me.second_factor;
      for (const id of ["profile-card", "sessions-card", "mfa-card", "delete-card"]) $(id).hidden = false;
    };
    const sessions = async () => {
      const list = $("sessions");
      list.textContent = "";
      for (const s of (await call("GET", "/me/sessions")).sessions) {
        const item = document.createElement("li");
        const when = new Date(s.last_used_at * 1000).toLocaleString();
        item.textContent = `${s.current ? "This browser" : s.user_agent || "A device"} · ${s.ip || "?"} · ${when} `;
        if (!s.current) {
          const end = document.createElement("button");
          end.type = "button"; end.className = "link"; end.textContent = "sign out";
          end.addEventListener("click", async () => { await call("DELETE", `/me/sessions/${s.id}`); sessions(); });
          item.appendChild(end);
        }
        list.appendChild(item);
      }
    };
    const guarded = (action) => async (event) => {
      if (event) event.preventDefault();
      try { await action(); } catch (error) { say(error.detail || error.message, "error"); }
    };
    show(await call("GET", "/me"));
    await sessions();
    $("profile").addEventListener("submit", guarded(async () => {
      const value = (id) => $(id).value.trim() || null;
      const data = { profile: { name: value("p-name"), given_name: value("p-given"),
        family_name: value("p-family"), birthdate: value("p-birthdate"), locale: value("p-locale") } };
      if (value("p-phone")) data.phone = value("p-phone");
      show(await call("PATCH", "/me", data));
      say("Saved.", "ok");
    }));
    $("signout").addEventListener("click", guarded(async () => {
      await api("POST", "/signout");
      location.assign("/accounts/signin");
    }));
    $("mfa-begin").addEventListener("click", guarded(async () => {
      const started = await call("POST", "/me/totp");
      $("mfa-secret").textContent = started.secret;
      $("mfa-uri").textContent = started.otpauth_uri;
      $("mfa-enrol").hidden = false; $("mfa-begin").hidden = true;
    }));
    $("mfa-confirm").addEventListener("click", guarded(async () => {
      const done = await call("POST", "/me/totp/confirm", { code: $("mfa-code").value });
      $("mfa-enrol").hidden = true; $("mfa-codes").hidden = false;
      const list = $("mfa-code-list");
      for (const code of done.recovery_codes) {
        const item = document.createElement("li"); item.textContent = code; list.appendChild(item);
      }
      show(await call("GET", "/me"));
      say("Two-step sign-in is on.", "ok");
    }));
    $("mfa-disable").addEventListener("click", guarded(async () => {
      await call("DELETE", "/me/totp", { password: $("mfa-password").value });
      show(await call("GET", "/me"));
      say("Two-step sign-in is off.", "ok");
    }));
    $("delete").addEventListener("click", guarded(async () => {
      await call("DELETE", "/me", { password: $("delete-password").value });
      location.assign("/accounts/signup");
    }));
  }

  ({ signin, signup, verify, account })[page]();
})();
