"""Dashboard sessions and CSRF tokens, stateless so they work on Lambda.

A session token is ``<expiry>.<HMAC(api key, expiry)>``: the cookie never
holds the API key, expires on its own, and changing the key ends every
session. The CSRF token is an HMAC of the session token, sent in each form
and checked on every state-changing request (the SameSite cookie already
stops cross-site posts in current browsers; the token covers the rest).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from http.cookies import CookieError, SimpleCookie
from typing import Optional

COOKIE_NAME = "lamed_session"
SESSION_SECONDS = 12 * 3600


def _sign(api_key: str, purpose: str, message: str) -> str:
    return hmac.new(api_key.encode("utf-8"), f"{purpose}:{message}".encode(), hashlib.sha256).hexdigest()


def new_session(api_key: str, now: Optional[float] = None) -> str:
    expiry = str(int((time.time() if now is None else now) + SESSION_SECONDS))
    return f"{expiry}.{_sign(api_key, 'session', expiry)}"


def session_is_valid(token: Optional[str], api_key: Optional[str], now: Optional[float] = None) -> bool:
    if not token or not api_key or token.count(".") != 1:
        return False
    expiry, signature = token.split(".")
    if not expiry.isdigit() or int(expiry) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature.encode("ascii", "replace"), _sign(api_key, "session", expiry).encode())


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
