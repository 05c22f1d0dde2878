"""Password hashing (argon2id) and the rules a new password must meet."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from registry.errors import FieldError

MIN_LENGTH = 10


@functools.cache
def hasher() -> PasswordHasher:
    # RFC 9106's second recommended profile (argon2id, 64 MiB, t=3): ~50 ms here.
    return PasswordHasher()


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not a password of anyone")


def burn_time(password: str) -> None:
    """Verify against a dummy hash when the username is unknown, so that a wrong name takes
    as long as a wrong password and does not reveal which usernames exist."""
    verify_password(_dummy_hash(), password)


def check_new_password(password: str, *, username: str, field: str = "password") -> FieldError | None:
    if len(password) < MIN_LENGTH:
        return FieldError(field, "password_too_short", f"密码至少 {MIN_LENGTH} 位。")
    if password.lower() == username.lower() or username.lower() in password.lower():
        return FieldError(field, "password_contains_username", "密码不能包含用户名。")
    kinds = sum(
        any(test(c) for c in password) for test in (str.isdigit, str.islower, str.isupper, lambda c: not c.isalnum())
    )
    if kinds < 2:
        return FieldError(field, "password_too_simple", "密码须包含数字、小写字母、大写字母、符号中的至少两类。")
    return None
