// The signed-out screen: sign in to an organization, or create one (its
// first user becomes its owner). On success the console starts.
import { login, signup } from "../account";
import { errText, topicNameProblem } from "../api";
import { h } from "../dom";

// minPassword is the length the form asks for before sending; the server
// has its own rules and its refusal is shown as it is.
const minPassword = 8;

export function loginScreen(onIn: () => void): HTMLElement {
  const email = h("input", { id: "login-email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", type: "password", autocomplete: "current-password", required: true });
  const org = h("input", { id: "login-org", placeholder: "optional: your first one", autocomplete: "organization" });
  const loginErr = h("p", { class: "form-error", id: "login-error" });
  const loginBtn = h("button", { type: "submit", id: "login-btn" }, "Sign in");
  const doLogin = async (e: Event) => {
    e.preventDefault();
    loginErr.textContent = "";
    if (!email.value || !password.value) return void (loginErr.textContent = "email and password are required");
    loginBtn.disabled = true;
    try {
      await login(email.value.trim(), password.value, org.value.trim() || undefined);
      onIn();
    } catch (x) {
      loginErr.textContent = errText(x);
    } finally {
      loginBtn.disabled = false;
    }
  };

  const sEmail = h("input", { id: "signup-email", type: "email", autocomplete: "username", required: true });
  const sPassword = h("input", { id: "signup-password", type: "password", autocomplete: "new-password", required: true, minlength: minPassword });
  const sOrg = h("input", { id: "signup-org", placeholder: "e.g. acme", autocomplete: "off", required: true });
  const sName = h("input", { id: "signup-name", placeholder: "optional", autocomplete: "organization" });
  const signupErr = h("p", { class: "form-error", id: "signup-error" });
  const signupBtn = h("button", { type: "submit", id: "signup-btn" }, "Create organization");
  sOrg.addEventListener("input", () => (signupErr.textContent = sOrg.value ? orgProblem(sOrg.value) ?? "" : ""));
  const doSignup = async (e: Event) => {
    e.preventDefault();
    const problem = !sEmail.value.includes("@") ? "an email address is required"
      : sPassword.value.length < minPassword ? `the password needs at least ${minPassword} characters`
      : orgProblem(sOrg.value.trim());
    signupErr.textContent = problem ?? "";
    if (problem) return;
    signupBtn.disabled = true;
    try {
      await signup({ email: sEmail.value.trim(), password: sPassword.value, organization: sOrg.value.trim(),
        ...(sName.value.trim() ? { display_name: sName.value.trim() } : {}) });
      onIn();
    } catch (x) {
      signupErr.textContent = errText(x);
    } finally {
      signupBtn.disabled = false;
    }
  };

  return h("div", { class: "auth-screen", id: "auth-screen" },
    h("div", { class: "brand auth-brand" }, "StreamHouse"),
    h("div", { class: "auth-forms" },
      h("form", { class: "panel form", id: "login-form", onsubmit: doLogin },
        h("h1", {}, "Sign in"),
        h("label", {}, "Email ", email), h("label", {}, "Password ", password), h("label", {}, "Organization ", org),
        loginErr, loginBtn),
      h("form", { class: "panel form", id: "signup-form", onsubmit: doSignup },
        h("h1", {}, "Sign up"),
        h("p", { class: "muted" }, "Create an organization; you become its owner."),
        h("label", {}, "Email ", sEmail), h("label", {}, "Password ", sPassword),
        h("label", {}, "Organization (its short name) ", sOrg), h("label", {}, "Display name ", sName),
        signupErr, signupBtn)));
}

// orgProblem checks an organization's short name as the registry does
// (the topic-name rule).
function orgProblem(name: string): string | null {
  const p = topicNameProblem(name);
  return p ? "organization: " + p : null;
}
