"""The HTTP API: FastAPI, thin over the store and the service.

Every route but `/healthz` needs `Authorization: Bearer <token>`. Errors always have
the contract's shape, `{"error": {"code", "message"}}`, translated once, in
`backend.http.errors`.
"""

# No `from __future__ import annotations`: FastAPI must see the `Me` alias, local to
# `create_app`, as an object; as a string it cannot resolve it and takes `me` for a
# required query parameter (every authenticated route then answers 422).
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from backend.accounts import hash_token
from backend.errors import NotFound, Unauthorized, UnknownUser
from backend.group_service import GroupResult, GroupService
from backend.http.errors import ERROR_RESPONSES, install_error_handlers
from backend.http.media import media_router
from backend.ids import is_conv_id, is_group_conv, is_user_id
from backend.limits import Limited
from backend.media.service import MediaService
from backend.service import ChatService, Outgoing, conv_marks
from backend.store.base import ConversationState, User

Publish = Callable[[list[Outgoing]], Awaitable[None]]

MAX_HISTORY_LIMIT = 500
MAX_NAME_CHARS = 64
MAX_ABOUT_CHARS = 512


class ProfilePatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, Field(max_length=MAX_NAME_CHARS)] | None = None
    about: Annotated[str, Field(max_length=MAX_ABOUT_CHARS)] | None = None


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    name: str
    members: list[str] = Field(default_factory=list, max_length=1024)


class GroupRename(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    name: str


class MembersAdd(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    users: list[str] = Field(min_length=1, max_length=1024)


def create_app(
    service: ChatService,
    groups: GroupService,
    publish: Publish,
    media: MediaService | None = None,
) -> FastAPI:
    """The API over `service` and `groups` (and `media`, when given: the media routes);
    `publish` sends what group changes produce."""
    app = FastAPI(
        title="mqchat", version="1", docs_url=None, redoc_url=None, responses=ERROR_RESPONSES
    )
    store = service.store
    install_error_handlers(app)

    async def current_user(request: Request) -> User:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("missing bearer token")
        user = await store.user_by_token_hash(hash_token(token.strip()))
        if user is None:
            raise Unauthorized("unknown or revoked token")
        # Per user, so only after authenticating: a bad token costs one lookup and a 401.
        service.limits.check(Limited.HTTP, user.id)
        return user

    Me = Annotated[User, Depends(current_user)]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/me")
    async def get_me(me: Me) -> dict[str, Any]:
        return own_profile(me)

    @app.patch("/v1/me")
    async def patch_me(me: Me, patch: ProfilePatch) -> dict[str, Any]:
        return own_profile(await store.update_profile(me.id, patch.name, patch.about))

    @app.get("/v1/users/{user_id}")
    async def get_user(me: Me, user_id: str) -> dict[str, Any]:
        found = await store.get_user(user_id) if is_user_id(user_id) else None
        if found is None or found.disabled:
            raise NotFound(f"no user {user_id!r}")
        return {"id": found.id, "name": found.name, "about": found.about}

    @app.get("/v1/conversations")
    async def list_conversations(me: Me) -> list[dict[str, Any]]:
        return [conversation_object(state) for state in await store.conversations(me.id)]

    @app.get("/v1/conversations/{conv}/messages")
    async def history(
        me: Me,
        conv: str,
        before: Annotated[int | None, Query(ge=1)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_LIMIT)] = 50,
    ) -> list[dict[str, Any]]:
        _check_conv(conv)
        messages = await store.history(me.id, conv, before, limit)
        return [message.to_wire() for message in messages]

    @app.get("/v1/conversations/{conv}/messages/{seq}/receipts")
    async def receipts(
        me: Me, conv: str, seq: Annotated[int, PathParam(ge=1)]
    ) -> list[dict[str, Any]]:
        _check_conv(conv)
        found = await store.message_receipts(me.id, conv, seq)
        return [
            {"user": r.user, "delivered_ts": r.delivered_ts, "read_ts": r.read_ts} for r in found
        ]

    async def group_answer(result: GroupResult) -> dict[str, Any]:
        await publish(result.outgoing)
        return conversation_object(result.state)

    @app.post("/v1/groups", status_code=201)
    async def create_group(me: Me, body: GroupCreate) -> dict[str, Any]:
        _check_users(body.members)
        return await group_answer(await groups.create(me.id, body.name, body.members))

    @app.patch("/v1/groups/{conv}")
    async def rename_group(me: Me, conv: str, body: GroupRename) -> dict[str, Any]:
        _check_group(conv)
        return await group_answer(await groups.rename(me.id, conv, body.name))

    @app.post("/v1/groups/{conv}/members")
    async def add_members(me: Me, conv: str, body: MembersAdd) -> dict[str, Any]:
        _check_group(conv)
        _check_users(body.users)
        return await group_answer(await groups.add(me.id, conv, body.users))

    @app.delete("/v1/groups/{conv}/members/{user}")
    async def remove_member(me: Me, conv: str, user: str) -> dict[str, Any]:
        _check_group(conv)
        _check_users([user])
        return await group_answer(await groups.remove(me.id, conv, user))

    @app.put("/v1/groups/{conv}/admins/{user}")
    async def promote(me: Me, conv: str, user: str) -> dict[str, Any]:
        _check_group(conv)
        _check_users([user])
        return await group_answer(await groups.set_admin(me.id, conv, user, make_admin=True))

    @app.delete("/v1/groups/{conv}/admins/{user}")
    async def demote(me: Me, conv: str, user: str) -> dict[str, Any]:
        _check_group(conv)
        _check_users([user])
        return await group_answer(await groups.set_admin(me.id, conv, user, make_admin=False))

    if media is not None:
        app.include_router(media_router(media, current_user, service.limits))
    return app


def own_profile(user: User) -> dict[str, Any]:
    return {"id": user.id, "phone": user.phone, "name": user.name, "about": user.about}


def conversation_object(state: ConversationState) -> dict[str, Any]:
    """The contract's conversation object, plus the caller's marks (an extension)."""
    return {
        "conv": state.conv,
        "kind": state.kind,
        "name": state.name,
        "members": list(state.members),
        "admins": list(state.admins),
        "last_seq": state.last_seq,
        "marks": conv_marks(state).model_dump(),
    }


def _check_conv(conv: str) -> None:
    if not is_conv_id(conv):
        raise NotFound(f"no conversation {conv!r}")


def _check_group(conv: str) -> None:
    if not is_group_conv(conv):
        raise NotFound(f"no group {conv!r}")


def _check_users(users: list[str]) -> None:
    unknown = [user for user in users if not is_user_id(user)]
    if unknown:
        raise UnknownUser(f"no such users: {', '.join(unknown)}", unknown)
