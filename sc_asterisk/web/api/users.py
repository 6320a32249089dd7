"""Users and their API tokens (admin only), through ``users.accounts`` and ``users.tokens``,
the CLI's own functions; every change audited with the admin."""
from __future__ import annotations

from datetime import timezone

from fastapi import APIRouter, Depends, Query, Request

from ...users import accounts, tokens
from ...users.roles import Permission
from ..auth import Principal, require
from ..schemas import NewToken, Page, TokenIn, TokenOut, UserIn, UserOut

router = APIRouter(tags=["users"])
ADMIN = require(Permission.USER_ADMIN)


def _utc(at):
    return at if at is None or at.tzinfo else at.replace(tzinfo=timezone.utc)


@router.get("/users", response_model=Page[UserOut])
def list_users(request: Request, limit: int = Query(50, ge=1, le=500),
               offset: int = Query(0, ge=0), _who: Principal = Depends(ADMIN)):
    """Users by name, a page at a time."""
    with request.app.state.db.session() as s:
        every = accounts.list_users(s)
        items = [UserOut(username=u.username, role=u.role, created_at=_utc(u.created_at))
                 for u in every[offset:offset + limit]]
    return Page[UserOut](items=items, total=len(every), limit=limit, offset=offset)


@router.post("/users", response_model=UserOut, status_code=201)
def add_user(body: UserIn, request: Request, who: Principal = Depends(ADMIN)):
    """Add a user (password: 12 characters at least, stored as an argon2id hash)."""
    with request.app.state.db.session() as s:
        user = accounts.add_user(s, body.username, body.password, body.role, actor=who.actor)
        return UserOut(username=user.username, role=user.role, created_at=_utc(user.created_at))


@router.delete("/users/{username}", status_code=204)
def remove_user(username: str, request: Request, who: Principal = Depends(ADMIN)) -> None:
    """Remove a user with their tokens and sessions."""
    with request.app.state.db.session() as s:
        accounts.remove_user(s, username, actor=who.actor)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(request: Request, user: str | None = None,
                _who: Principal = Depends(ADMIN)):
    """API tokens (never their secret), of one user or all."""
    with request.app.state.db.session() as s:
        return [TokenOut(token_id=t.token_id, username=name, name=t.name,
                         created_at=_utc(t.created_at), last_used_at=_utc(t.last_used_at))
                for t, name in tokens.list_tokens(s, user)]


@router.post("/users/{username}/tokens", response_model=NewToken, status_code=201)
def create_token(username: str, body: TokenIn, request: Request,
                 who: Principal = Depends(ADMIN)):
    """A new bearer token for *username*, returned this once."""
    with request.app.state.db.session() as s:
        token = tokens.create_token(s, username, body.name, actor=who.actor)
    return NewToken(token_id=token.split("_")[1], token=token)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: str, request: Request, who: Principal = Depends(ADMIN)) -> None:
    """Revoke a token: it is refused from the next request on."""
    with request.app.state.db.session() as s:
        tokens.revoke_token(s, token_id, actor=who.actor)
