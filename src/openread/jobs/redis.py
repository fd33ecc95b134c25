"""A ``JobStore`` on a Redis server, shared by several openread replicas behind a load balancer:
a job submitted to one replica can be polled on any other, and run by any of them.

Keys (prefix ``openread:``): ``job:{id}`` a hash (the record), ``payload:{id}`` the document
bytes, ``lease:{id}`` the owner of a running job (``SET NX PX``: expires by itself when its
replica dies), ``pages:{id}`` a hash of the pages read so far (index -> serialised page), and the
set ``unfinished`` of job ids not yet finished. Job keys carry a Redis
expiry of the job's remaining lifetime, so results expire without a sweeper. Lease renewal,
release and finish check the owner in a Lua script (atomic on the server).
Needs the ``redis`` package (``pip install 'openread[redis]'``).
"""

from __future__ import annotations

import time
from typing import Any

from ..wire.v32 import Status
from .store import JobRecord, JobRequest, contiguous_pages

__all__ = ["RedisJobStore"]

PREFIX = "openread:"

_IF_OWNER_PEXPIRE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_IF_OWNER_HSET = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('hset', KEYS[2], ARGV[2], ARGV[3])
  redis.call('pexpire', KEYS[2], ARGV[4])
  return 1
end
return 0
"""
_IF_OWNER_DEL = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisJobStore:
    """Jobs on the Redis server at ``url`` (``redis://host:port/db``)."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis: Any = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self._redis.ping()  # fail at start-up, not on the first job
        self._renew = self._redis.register_script(_IF_OWNER_PEXPIRE)
        self._unlock = self._redis.register_script(_IF_OWNER_DEL)
        self._save_page = self._redis.register_script(_IF_OWNER_HSET)

    @staticmethod
    def _key(kind: str, job_id: str) -> str:
        return f"{PREFIX}{kind}:{job_id}"

    def create(self, record: JobRecord, payload: bytes) -> None:
        ttl_ms = max(1, int((record.expires - time.time()) * 1000))
        job = self._key("job", record.id)
        pipe = self._redis.pipeline()
        pipe.hset(
            job,
            mapping={
                "request": record.request.to_json(),
                "status": record.status,
                "created": repr(record.created),
                "updated": repr(record.updated),
                "expires": repr(record.expires),
                "attempts": 0,
            },
        )
        pipe.pexpire(job, ttl_ms)
        pipe.set(self._key("payload", record.id), payload, px=ttl_ms)
        pipe.sadd(PREFIX + "unfinished", record.id)
        pipe.execute()

    def get(self, job_id: str) -> JobRecord | None:
        raw: dict[bytes, bytes] = self._redis.hgetall(self._key("job", job_id))
        if not raw or float(raw[b"expires"]) <= time.time():
            return None

        def text(name: str) -> str | None:
            value = raw.get(name.encode())
            return None if value is None else value.decode("utf-8")

        return JobRecord(
            id=job_id,
            request=JobRequest.from_json(raw[b"request"].decode("utf-8")),
            status=raw[b"status"].decode("ascii"),  # type: ignore[arg-type]
            created=float(raw[b"created"]),
            updated=float(raw[b"updated"]),
            expires=float(raw[b"expires"]),
            result=raw.get(b"result"),
            error_code=text("error_code"),
            error_message=text("error_message"),
            attempts=int(raw.get(b"attempts", b"0")),
        )

    def payload(self, job_id: str) -> bytes | None:
        value: bytes | None = self._redis.get(self._key("payload", job_id))
        return value

    def claim(self, job_id: str, owner: str, lease: float) -> bool:
        record = self.get(job_id)
        if record is None or record.status not in ("notStarted", "running"):
            return False
        lease_key = self._key("lease", job_id)
        taken = self._redis.set(lease_key, owner, nx=True, px=int(lease * 1000))
        if not taken:
            if self._redis.get(lease_key) != owner.encode():
                return False
            self._renew(keys=[lease_key], args=[owner, int(lease * 1000)])
        job = self._key("job", job_id)
        pipe = self._redis.pipeline()
        pipe.hset(job, mapping={"status": "running", "updated": repr(time.time())})
        pipe.hincrby(job, "attempts", 1)
        pipe.execute()
        return True

    def renew(self, job_id: str, owner: str, lease: float) -> bool:
        lease_key = self._key("lease", job_id)
        return bool(self._renew(keys=[lease_key], args=[owner, int(lease * 1000)]))

    def save_page(self, job_id: str, owner: str, index: int, page: bytes) -> bool:
        record = self.get(job_id)
        if record is None:
            return False
        ttl_ms = max(1, int((record.expires - time.time()) * 1000))
        keys = [self._key("lease", job_id), self._key("pages", job_id)]
        return bool(self._save_page(keys=keys, args=[owner, index, page, ttl_ms]))

    def pages(self, job_id: str) -> list[bytes]:
        raw: dict[bytes, bytes] = self._redis.hgetall(self._key("pages", job_id))
        return contiguous_pages((int(index), page) for index, page in raw.items())

    def _holds(self, job_id: str, owner: str) -> bool:
        return bool(self._redis.get(self._key("lease", job_id)) == owner.encode())

    def release(self, job_id: str, owner: str) -> None:
        if not self._holds(job_id, owner):
            return
        self._redis.hset(
            self._key("job", job_id),
            mapping={"status": "notStarted", "updated": repr(time.time())},
        )
        self._unlock(keys=[self._key("lease", job_id)], args=[owner])

    def finish(
        self,
        job_id: str,
        owner: str,
        status: Status,
        result: bytes | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        if not self._holds(job_id, owner):
            return False
        fields: dict[str, str | bytes] = {"status": status, "updated": repr(time.time())}
        if result is not None:
            fields["result"] = result
        if error is not None:
            fields["error_code"], fields["error_message"] = error
        pipe = self._redis.pipeline()
        pipe.hset(self._key("job", job_id), mapping=fields)
        pipe.delete(self._key("payload", job_id))
        pipe.delete(self._key("pages", job_id))
        pipe.srem(PREFIX + "unfinished", job_id)
        pipe.execute()
        self._unlock(keys=[self._key("lease", job_id)], args=[owner])
        return True

    def claimable(self, limit: int) -> list[str]:
        found: list[tuple[float, str]] = []
        for raw_id in self._redis.smembers(PREFIX + "unfinished"):
            job_id = raw_id.decode("ascii")
            record = self.get(job_id)
            if record is None or record.status not in ("notStarted", "running"):
                self._redis.srem(PREFIX + "unfinished", job_id)  # expired or finished
                continue
            if not self._redis.exists(self._key("lease", job_id)):
                found.append((record.created, job_id))
        return [job_id for _, job_id in sorted(found)[:limit]]

    def unfinished_count(self) -> int:
        return int(self._redis.scard(PREFIX + "unfinished"))

    def counts(self) -> dict[str, int]:
        """Scans the job keys (``SCAN``, not ``KEYS``: the server is not blocked); its cost
        grows with the number of unexpired jobs."""
        found: dict[str, int] = {}
        keys = list(self._redis.scan_iter(match=PREFIX + "job:*", count=500))
        pipe = self._redis.pipeline()
        for key in keys:
            pipe.hget(key, "status")
        for status in pipe.execute():
            if status is not None:
                name = status.decode("ascii")
                found[name] = found.get(name, 0) + 1
        return found

    def purge(self) -> int:
        return 0  # Redis expires the keys itself; ``claimable`` drops stale ids from the set

    def close(self) -> None:
        self._redis.close()
