"""Dashboard sessions and CSRF tokens.

A session token is ``<expiry>.<nonce>.<HMAC(api key, expiry.nonce)>``: the
cookie never holds the API key, expires on its own, and changing the key
ends every session. A token is also open in Redis
(:class:`lamed.store.sessions.Sessions`) until it expires or its holder logs
out, so a logout ends it on the server: a captured cookie stops working.
The CSRF token is an HMAC of the session token, sent in each form and
checked on every state-changing request (the SameSite cookie already stops
cross-site posts in current browsers; the token covers the rest).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from http.cookies import CookieError, SimpleCookie
from typing import Optional

COOKIE_NAME = "lamed_session"
SESSION_SECONDS = 12 * 3600
# Wrong logins allowed per client address per window; the next is a 429
# until the window ends (about 10 guesses a minute instead of thousands a second).
MAX_LOGIN_FAILURES = 10
LOGIN_WINDOW_SECONDS = 60


def _sign(api_key: str, purpose: str, message: str) -> str:
    return hmac.new(api_key.encode("utf-8"), f"{purpose}:{message}".encode(), hashlib.sha256).hexdigest()


def new_session(api_key: str, now: Optional[float] = None) -> str:
    """A new token; the nonce makes each login's token its own, so logging
    out ends that session only."""
    expiry = str(int((time.time() if now is None else now) + SESSION_SECONDS))
    signed = f"{expiry}.{secrets.token_urlsafe(16)}"
    return f"{signed}.{_sign(api_key, 'session', signed)}"


def session_is_valid(token: Optional[str], api_key: Optional[str], now: Optional[float] = None) -> bool:
    """Signed with this key and not expired (whether it is still open is
    Redis's to say)."""
    if not token or not api_key or token.count(".") != 2:
        return False
    signed, signature = token.rsplit(".", 1)
    expiry = signed.split(".")[0]
    if not expiry.isdigit() or int(expiry) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature.encode("ascii", "replace"), _sign(api_key, "session", signed).encode())


def login_window(now: float) -> tuple[int, int]:
    """The throttle's current window and the seconds until it ends."""
    return int(now // LOGIN_WINDOW_SECONDS), math.ceil(LOGIN_WINDOW_SECONDS - now % LOGIN_WINDOW_SECONDS)


def csrf_token(session: str, api_key: str) -> str:
    return _sign(api_key, "csrf", session)


def csrf_is_valid(given: Optional[str], session: Optional[str], api_key: Optional[str]) -> bool:
    if not given or not session or not api_key:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), csrf_token(session, api_key).encode())


def session_from_cookies(cookie_header: Optional[str]) -> Optional[str]:
    try:
        cookies = SimpleCookie(cookie_header or "")
    except CookieError:
        return None
    morsel = cookies.get(COOKIE_NAME)
    return morsel.value if morsel else None


def set_cookie_header(token: str, secure: bool) -> str:
    """HttpOnly (no script reads it), SameSite=Lax (no cross-site posts), and
    no Path: it defaults to the dashboard's own directory, whatever prefix
    (an API Gateway stage, say) the deployment puts in front of it."""
    return _cookie(token, SESSION_SECONDS, secure)


def clear_cookie_header(secure: bool) -> str:
    return _cookie("", 0, secure)


def _cookie(value: str, max_age: int, secure: bool) -> str:
    flags = "; Secure" if secure else ""
    return f"{COOKIE_NAME}={value}; Max-Age={max_age}; HttpOnly; SameSite=Lax{flags}"
