"""IAM password mode: one project-scoped token, obtained, shared and renewed for every poll worker.

``POST {iam}/v3/auth/tokens`` with the user's password and a project scope answers 201 with the token
in ``X-Subject-Token`` and its ``expires_at`` in the body (/work/shared/codearts-api.md section 1.1).

- Workers share one token. When none is usable, one worker asks IAM and the others wait for its answer.
- At 80 % of the token's life the first worker to notice starts one renewal in the background and
  keeps sending the old token meanwhile, so polls never wait for IAM while a token is still good.
- After a 401 from CodeArts the token is renewed once (unless a renewal already happened since the
  refused request was signed) and the client retries once.
- A failed attempt (wrong password, IAM down) is logged once, then no attempt is made before the
  backoff step has passed (5 s doubling to 5 min; IAM's ``Retry-After`` is honoured up to 5 min, never
  beyond, so one bad answer cannot stop renewal); meanwhile requests fail at once with that error.
- Sending, the deadline, redirects, the body cap and the reading of error answers are
  :mod:`exporter.upstream`'s, as for CodeArts; this module keeps the token request body and the token.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

import requests

from exporter.auth.base import CodeArtsAuth
from exporter.auth.secretfile import SecretSource
from exporter.auth.settings import PasswordAuth
from exporter.errors import CodeArtsError, CredentialsError, PayloadError, RedirectError
from exporter.limits import IAM_MAX_BODY_BYTES
from exporter.payload import parse_timestamp
from exporter.ratelimit import RateLimits
from exporter.safetext import printable
from exporter.stats import RequestStats
from exporter.upstream import JSON_HEADERS, Upstream, error_fields, retry_after

log = logging.getLogger(__name__)

IAM_API = "iam"  # the api label of IAM requests in codearts_api_requests_total
TOKENS_PATH = "/v3/auth/tokens"
RENEW_FRACTION = 0.8
BACKOFF_STEPS: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0)
# A 401 does not renew a token younger than this (unless it is due anyway): if CodeArts refuses fresh
# tokens (missing permission, wrong region), renewing per refused request would flood IAM.
MIN_REISSUE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token and when to renew it; local times are on the manager's clock."""

    value: str
    generation: int
    obtained_at: float
    renew_at: float
    expires_at: float  # local clock
    expires_at_server: float  # IAM's expires_at as Unix time (the metric)


class IamRefused(CredentialsError):
    """IAM answered the token request with an error; ``retry_after`` when it said how long to wait."""

    def __init__(self, message: str, *, retry_after: float | None = None, **details: object) -> None:
        super().__init__(message, **details)  # type: ignore[arg-type]
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class _Failure:
    message: str
    attempts: int
    next_attempt_at: float


def token_request_body(settings: PasswordAuth, password: str) -> dict[str, object]:
    """The JSON body of a password token request scoped to the configured IAM project."""
    project = {"id": settings.project_id} if settings.project_id else {"name": settings.project_name}
    user = {"name": settings.username, "password": password, "domain": {"name": settings.domain}}
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                     "scope": {"project": project}}}


def backoff_delay(attempts: int, retry_after: float | None = None) -> float:
    """Seconds to wait after ``attempts`` consecutive failures (at least what IAM asked for)."""
    step = BACKOFF_STEPS[min(attempts, len(BACKOFF_STEPS)) - 1]
    return max(step, retry_after or 0.0)


class IamTokenAuth(CodeArtsAuth):
    """Sends a shared, automatically renewed IAM token as ``X-Auth-Token``."""

    def __init__(
        self,
        settings: PasswordAuth,
        *,
        iam_url: str,
        timeout: float,
        stats: RequestStats | None = None,
        clock: Callable[[], float] = time.time,
        renew_fraction: float = RENEW_FRACTION,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.settings = settings
        self.url = f"{iam_url.rstrip('/')}{TOKENS_PATH}"
        self.timeout = timeout
        self.stats = stats or RequestStats()
        self._clock = clock
        self._renew_fraction = renew_fraction
        self._password = SecretSource("password", settings.password, settings.password_file)
        self._upstream = Upstream(timeout=timeout, stats=self.stats, max_body_bytes=IAM_MAX_BODY_BYTES, pool_size=1,
                                  rate_limits=rate_limits, base_urls={IAM_API: self.url})
        self._cond = threading.Condition()
        self._token: IssuedToken | None = None
        self._generation = 0
        self._renewing = False
        self._failure: _Failure | None = None
        self._used = threading.local()

    # -- the AuthBase side -------------------------------------------------------------------------

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self._usable_token()
        self._used.generation = token.generation
        request.headers["X-Auth-Token"] = token.value
        return request

    def renew_after_unauthorized(self) -> bool:
        """Renew once after CodeArts refused this thread's token; True if a retry is worth it."""
        used = getattr(self._used, "generation", None)
        with self._cond:
            token, now = self._token, self._clock()
            if token is not None and used is not None and token.generation > used:
                return True  # another worker renewed since this request was signed
            if token is not None and not self._renewing and now < token.renew_at \
                    and now - token.obtained_at < MIN_REISSUE_SECONDS:
                log.warning("CodeArts refused an IAM token obtained %.0fs ago; not renewing it before %.0fs",
                            now - token.obtained_at, MIN_REISSUE_SECONDS)
                return False
            if token is not None and token.generation == used:
                self._token = None  # refused: let nobody else send it while it is renewed
                self.stats.set_token_expiry(None)  # no token in use: its expiry leaves /metrics
        try:
            self._wait_for_token(newer_than=used if used is not None else -1)
        except CredentialsError:
            return False
        return True

    def token_expiry(self) -> float | None:
        """IAM's ``expires_at`` of the current token (Unix time), None without one."""
        token = self._token
        return token.expires_at_server if token is not None else None

    def close(self) -> None:
        """Release the IAM connection."""
        self._upstream.close()

    def __repr__(self) -> str:
        return f"IamTokenAuth(user={self.settings.username!r}, domain={self.settings.domain!r}, password=***)"

    # -- sharing one token -------------------------------------------------------------------------

    def _usable_token(self) -> IssuedToken:
        with self._cond:
            token, now = self._token, self._clock()
            if token is not None and now < token.expires_at:
                if now >= token.renew_at and not self._renewing and self._may_attempt(now):
                    self._renewing = True
                    threading.Thread(target=self._renew_in_background, name="iam-renewal", daemon=True).start()
                return token
        return self._wait_for_token(newer_than=-1)

    def _may_attempt(self, now: float) -> bool:
        return self._failure is None or now >= self._failure.next_attempt_at

    def _wait_for_token(self, newer_than: int) -> IssuedToken:
        """A valid token of a generation above ``newer_than``: wait for a running renewal, or run one."""
        with self._cond:
            while True:
                token, now = self._token, self._clock()
                if token is not None and token.generation > newer_than and now < token.expires_at:
                    return token
                if not self._renewing:
                    break
                self._cond.wait()
            if self._failure is not None and now < self._failure.next_attempt_at:
                raise CredentialsError(f"no IAM token: {self._failure.message} (next attempt in "
                                       f"{self._failure.next_attempt_at - now:.0f}s)", url=self.url)
            self._renewing = True
        return self._renew()

    def _renew_in_background(self) -> None:
        with suppress(CredentialsError):  # logged by _renew; the current token stays in use until it expires
            self._renew()

    def _renew(self) -> IssuedToken:
        """One IAM request (the caller set ``_renewing``); publishes the outcome and wakes the waiters."""
        started = self._clock()
        try:
            token = self._request_token(started)
        except CredentialsError as err:
            with self._cond:
                attempts = (self._failure.attempts if self._failure else 0) + 1
                delay = backoff_delay(attempts, err.retry_after if isinstance(err, IamRefused) else None)
                self._failure = _Failure(str(err.args[0]), attempts, self._clock() + delay)
                self._renewing = False
                self._cond.notify_all()
            log.error("IAM token request for user %s failed (attempt %d, next in %.0fs): %s",
                      self.settings.username, attempts, delay, err)
            raise
        except BaseException:
            with self._cond:
                self._renewing = False
                self._cond.notify_all()
            raise
        with self._cond:
            self._token, self._failure, self._renewing = token, None, False
            self._cond.notify_all()
        self.stats.set_token_expiry(token.expires_at_server)
        log.info("obtained an IAM token for user %s (generation %d), valid until %s; renewal after %.0fs",
                 self.settings.username, token.generation,
                 time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(token.expires_at_server)),
                 token.renew_at - token.obtained_at)
        return token

    # -- talking to IAM ----------------------------------------------------------------------------

    def _request_token(self, started: float) -> IssuedToken:
        password = self._password.read()  # *_file: read again at every attempt, so rotation just works
        body = json.dumps(token_request_body(self.settings, password.reveal())).encode()
        # One renewal runs at a time, so at most one caller ever waits for the IAM bucket. Never redirected:
        # a 307 would POST the password to wherever it points.
        try:
            response = self._upstream.send(IAM_API, "POST", self.url, params={"nocatalog": "true"}, data=body,
                                           headers=JSON_HEADERS)
        except RedirectError as err:
            raise IamRefused(f"IAM redirected the token request to {err.target}; redirects are never followed",
                             url=self.url, status=err.status) from None
        except PayloadError as err:  # the body cap
            raise CredentialsError(f"IAM answer larger than {IAM_MAX_BODY_BYTES} bytes", url=self.url,
                                   status=err.status) from None
        except CodeArtsError as err:
            raise CredentialsError(f"IAM unreachable: {err.args[0]}", url=self.url) from None
        if response.status_code != 201:
            raise self._refusal(response)
        return self._issued(response, started)

    def _refusal(self, response: requests.Response) -> IamRefused:
        code, message = error_fields(response)
        who = f"user {self.settings.username} in domain {self.settings.domain}"
        what = {401: f"IAM refused the credentials of {who}", 403: f"IAM forbade a token to {who}",
                429: "IAM throttled the token request"}.get(response.status_code, "IAM token request failed")
        detail = f": {message}" if message else ""
        code = "" if code == str(response.status_code) else code  # Keystone-style bodies repeat the status
        header = response.headers.get("Retry-After")
        wait = retry_after(header, now=self._clock(), ceiling=BACKOFF_STEPS[-1])
        if wait is not None and wait.clamped:
            log.warning("IAM asked to wait %g seconds before the next token request (Retry-After: %s); waiting %gs, "
                        "the backoff ceiling", wait.asked, printable(header or "", limit=64), wait.seconds)
        return IamRefused(f"{what}{detail}", url=self.url, status=response.status_code, error_code=code,
                          retry_after=wait.seconds if wait is not None else None)

    def _issued(self, response: requests.Response, started: float) -> IssuedToken:
        value = response.headers.get("X-Subject-Token", "")
        try:
            token = json.loads(response.content.decode("utf-8")).get("token") or {}
        except (UnicodeDecodeError, ValueError, AttributeError, RecursionError):
            token = {}
        expires = parse_timestamp(token.get("expires_at")) if isinstance(token, dict) else None
        issued = parse_timestamp(token.get("issued_at")) if isinstance(token, dict) else None
        if not value or expires is None:
            raise CredentialsError("IAM answered 201 without X-Subject-Token or token.expires_at",
                                   url=self.url, status=response.status_code)
        # Lifetime by IAM's own two clocks, counted from when we asked: immune to local clock skew.
        lifetime = expires - issued if issued is not None and issued < expires else expires - time.time()
        if lifetime <= 0:
            raise CredentialsError("IAM issued a token that has already expired", url=self.url)
        with self._cond:
            self._generation += 1
            generation = self._generation
        return IssuedToken(value, generation, started, started + self._renew_fraction * lifetime,
                           started + lifetime, expires)
