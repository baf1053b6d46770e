"""The matrix: which consumer versions' pacts were verified by which provider versions.

A query is a list of *selectors* (``q[][pacticipant]=Foo&q[][version]=1``, the
latest version with a tag, every version on a branch, the versions in an
environment, or every version) and, optionally, a *target* the other
pacticipants are taken from: an environment (``environment=production``), a
tag (``tag=prod``), their latest versions (``latest=true``) or their main
branches (``mainBranch=true``). With a target, every pacticipant integrated
with a selected one (a provider of its pacts, a consumer with pacts for it) is
*inferred* and its target versions are selected too: that is can-i-deploy.

The whole thing is ONE SQL statement: the selectors travel as a JSON array,
each is resolved by a ``LATERAL`` subquery whose branches are switched on and
off by one-time filters (so each kind runs on its own index and stops at the
first hit); the pairs of selected versions become rows from the pact
publications (``(consumer_version_id, provider_id)`` unique index) left-joined
to the latest verification of that pact content by that provider version
(``verifications_pact_idx``). Python only formats the rows and decides.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

__all__ = [
    "MatrixLookupError",
    "MatrixQuery",
    "MatrixResult",
    "Row",
    "Selector",
    "Summary",
    "fetch_without_jit",
    "run_matrix",
]


class MatrixLookupError(Exception):
    """A selector or the target names something the broker does not know: an
    environment (``where`` is ``environment``) or pacticipants (``where`` is ``q``,
    the selectors). ``problems`` says what, one entry per unknown name."""

    def __init__(self, where: str, problems: list[str]) -> None:
        self.where = where
        self.problems = problems
        self.detail = "; ".join(problems)
        super().__init__(self.detail)


Target = Literal["none", "any", "latest", "tag", "main_branch", "environment"]


@dataclass(frozen=True)
class Selector:
    pacticipant: str
    version: str | None = None
    latest: bool = False
    tag: str | None = None
    branch: str | None = None
    main_branch: bool = False
    environment: str | None = None

    @property
    def any_version(self) -> bool:
        return not (
            self.version
            or self.latest
            or self.tag
            or self.branch
            or self.main_branch
            or self.environment
        )


@dataclass(frozen=True)
class Ignore:
    pacticipant: str
    version: str | None = None


@dataclass
class MatrixQuery:
    selectors: list[Selector]
    latestby: str | None = None  # "cvp" | "cvpv" | None
    latest: bool = False
    tag: str | None = None
    environment: str | None = None
    main_branch: bool = False
    limit: int | None = None
    ignore: list[Ignore] = field(default_factory=list)

    @property
    def target(self) -> Target:
        if self.environment:
            return "environment"
        if self.tag:
            return "tag"
        if self.latest:
            return "latest"
        if self.main_branch:
            return "main_branch"
        return "any" if len(self.selectors) == 1 else "none"


_VERSIONS_OF_SELECTOR = """
      SELECT v.id AS vid, NULL::text AS how FROM broker.versions v
       WHERE r.version IS NOT NULL AND v.pacticipant_id = p.id AND v.number = r.version
      UNION ALL
      (SELECT v.id, NULL FROM broker.versions v
        WHERE r.version IS NULL AND r.latest AND r.tag IS NULL AND r.branch IS NULL
          AND r.main_branch IS NOT TRUE AND v.pacticipant_id = p.id
        ORDER BY v.id DESC LIMIT 1)
      UNION ALL
      (SELECT v.id, NULL FROM broker.versions v
         JOIN broker.tags t ON t.version_id = v.id AND t.name = r.tag
        WHERE r.version IS NULL AND r.latest AND r.tag IS NOT NULL AND v.pacticipant_id = p.id
        ORDER BY v.id DESC LIMIT 1)
      UNION ALL
      (SELECT bv.version_id, NULL FROM broker.branches b
         JOIN broker.branch_versions bv ON bv.branch_id = b.id
        WHERE r.version IS NULL AND r.latest AND r.tag IS NULL
          AND (r.branch IS NOT NULL OR r.main_branch)
          AND b.pacticipant_id = p.id AND b.name = coalesce(r.branch, p.main_branch)
        ORDER BY bv.version_id DESC LIMIT 1)
      UNION ALL
      SELECT v.id, NULL FROM broker.versions v
        JOIN broker.tags t ON t.version_id = v.id AND t.name = r.tag
       WHERE r.version IS NULL AND r.latest IS NOT TRUE AND r.tag IS NOT NULL
         AND v.pacticipant_id = p.id
      UNION ALL
      SELECT bv.version_id, NULL FROM broker.branches b
        JOIN broker.branch_versions bv ON bv.branch_id = b.id
       WHERE r.version IS NULL AND r.latest IS NOT TRUE AND r.tag IS NULL
         AND (r.branch IS NOT NULL OR r.main_branch)
         AND b.pacticipant_id = p.id AND b.name = coalesce(r.branch, p.main_branch)
      UNION ALL
      SELECT d.version_id, 'deployed' FROM broker.deployed_versions d
        JOIN broker.environments e ON e.id = d.environment_id
        JOIN broker.versions v ON v.id = d.version_id
       WHERE r.version IS NULL AND r.environment IS NOT NULL AND e.name = r.environment
         AND d.undeployed_at IS NULL AND v.pacticipant_id = p.id
      UNION ALL
      SELECT rv.version_id, 'released' FROM broker.released_versions rv
        JOIN broker.environments e ON e.id = rv.environment_id
        JOIN broker.versions v ON v.id = rv.version_id
       WHERE r.version IS NULL AND r.environment IS NOT NULL AND e.name = r.environment
         AND rv.support_ended_at IS NULL AND v.pacticipant_id = p.id
"""

_VERIFICATION_COLUMNS = "ver.id, ver.success, ver.created_at, ver.provider_version_id"

SQL = f"""
WITH req AS (
  SELECT * FROM jsonb_to_recordset(%(selectors)s::jsonb) AS r(
    idx int, pacticipant text, version text, latest boolean, tag text, branch text,
    main_branch boolean, environment text)
),
env AS (SELECT id FROM broker.environments WHERE name = %(environment)s),
explicit AS (
  SELECT r.idx AS sid, true AS explicit, r.pacticipant AS name, p.id AS pid,
         (r.version IS NULL AND r.latest IS NOT TRUE AND r.tag IS NULL AND r.branch IS NULL
          AND r.main_branch IS NOT TRUE AND r.environment IS NULL) AS any_version,
         x.vid, x.how
    FROM req r
    LEFT JOIN broker.pacticipants p ON p.name = r.pacticipant
    LEFT JOIN LATERAL ({_VERSIONS_OF_SELECTOR}) x ON true
),
epids AS (SELECT DISTINCT pid FROM explicit WHERE pid IS NOT NULL),
partners AS (
  SELECT pp.provider_id AS pid
    FROM explicit e JOIN broker.pact_publications pp ON pp.consumer_version_id = e.vid
   WHERE %(target)s <> 'none'
  UNION
  SELECT pv.provider_id
    FROM explicit e JOIN broker.pact_versions pv ON pv.consumer_id = e.pid
   WHERE %(target)s <> 'none' AND e.any_version
  UNION
  SELECT pv.consumer_id
    FROM epids e JOIN broker.pact_versions pv ON pv.provider_id = e.pid
   WHERE %(target)s <> 'none'
),
inferred AS (
  SELECT -pa.pid AS sid, false AS explicit, p.name, pa.pid,
         (%(target)s = 'any') AS any_version, x.vid, x.how
    FROM partners pa
    JOIN broker.pacticipants p ON p.id = pa.pid
    LEFT JOIN LATERAL (
      (SELECT v.id AS vid, NULL::text AS how FROM broker.versions v
        WHERE %(target)s = 'latest' AND v.pacticipant_id = pa.pid
        ORDER BY v.id DESC LIMIT 1)
      UNION ALL
      (SELECT v.id, NULL FROM broker.versions v
         JOIN broker.tags t ON t.version_id = v.id AND t.name = %(tag)s
        WHERE %(target)s = 'tag' AND v.pacticipant_id = pa.pid
        ORDER BY v.id DESC LIMIT 1)
      UNION ALL
      (SELECT bv.version_id, NULL FROM broker.branches b
         JOIN broker.branch_versions bv ON bv.branch_id = b.id
        WHERE %(target)s = 'main_branch' AND b.pacticipant_id = pa.pid
          AND b.name = p.main_branch
        ORDER BY bv.version_id DESC LIMIT 1)
      UNION ALL
      SELECT d.version_id, 'deployed' FROM broker.deployed_versions d
        JOIN broker.versions v ON v.id = d.version_id
       WHERE %(target)s = 'environment' AND d.environment_id = (SELECT id FROM env)
         AND d.undeployed_at IS NULL AND v.pacticipant_id = pa.pid
      UNION ALL
      SELECT rv.version_id, 'released' FROM broker.released_versions rv
        JOIN broker.versions v ON v.id = rv.version_id
       WHERE %(target)s = 'environment' AND rv.environment_id = (SELECT id FROM env)
         AND rv.support_ended_at IS NULL AND v.pacticipant_id = pa.pid
    ) x ON true
   WHERE pa.pid NOT IN (SELECT pid FROM epids)
),
allsel AS (SELECT * FROM explicit UNION ALL SELECT * FROM inferred),
pairs AS (
  SELECT DISTINCT a.sid AS csid, b.sid AS psid, a.pid AS cpid, b.pid AS ppid,
         a.vid AS cvid, a.any_version AS cany, b.vid AS pvid, b.any_version AS pany
    FROM allsel a
    JOIN allsel b ON a.pid <> b.pid AND (a.explicit OR b.explicit)
   WHERE a.vid IS NOT NULL OR a.any_version
),
pacts AS (
  SELECT pr.*, pp.id AS pub_id, pp.consumer_version_id AS cv_id,
         pp.pact_version_sha AS sha, pp.created_at AS pact_created_at
    FROM pairs pr
    JOIN LATERAL (
      SELECT pp.* FROM broker.pact_publications pp
       WHERE pr.cvid IS NOT NULL AND pp.consumer_version_id = pr.cvid
         AND pp.provider_id = pr.ppid
      UNION ALL
      SELECT pp.* FROM broker.pact_publications pp
        JOIN broker.versions v ON v.id = pp.consumer_version_id
       WHERE pr.cvid IS NULL AND pr.cany AND pp.provider_id = pr.ppid
         AND v.pacticipant_id = pr.cpid
    ) pp ON true
),
matched AS (
  SELECT pa.csid, pa.psid, pa.ppid, pa.pub_id, pa.sha, pa.pact_created_at, pa.cv_id,
         ver.id AS verification_id, ver.success, ver.created_at AS verified_at,
         coalesce(ver.provider_version_id, pa.pvid) AS pv_id
    FROM pacts pa
    LEFT JOIN LATERAL (
      (SELECT {_VERIFICATION_COLUMNS} FROM broker.verifications ver
        WHERE pa.pvid IS NOT NULL AND ver.pact_version_sha = pa.sha
          AND ver.provider_version_id = pa.pvid
        ORDER BY ver.id DESC LIMIT 1)
      UNION ALL
      (SELECT {_VERIFICATION_COLUMNS} FROM broker.verifications ver
        WHERE pa.pvid IS NULL AND pa.pany AND %(latestby)s = 'cvp'
          AND ver.pact_version_sha = pa.sha
        ORDER BY ver.id DESC LIMIT 1)
      UNION ALL
      (SELECT DISTINCT ON (ver.provider_version_id) {_VERIFICATION_COLUMNS}
         FROM broker.verifications ver
        WHERE pa.pvid IS NULL AND pa.pany AND %(latestby)s = 'cvpv'
          AND ver.pact_version_sha = pa.sha
        ORDER BY ver.provider_version_id, ver.id DESC)
      UNION ALL
      SELECT {_VERIFICATION_COLUMNS} FROM broker.verifications ver
       WHERE pa.pvid IS NULL AND pa.pany AND %(latestby)s NOT IN ('cvp', 'cvpv')
         AND ver.pact_version_sha = pa.sha
    ) ver ON true
)
SELECT
  (SELECT count(*) FROM env) AS env_found,
  (SELECT coalesce(json_agg(json_build_object(
            'sid', s.sid, 'explicit', s.explicit, 'name', s.name, 'pid', s.pid,
            'any', s.any_version, 'vid', s.vid, 'number', v.number, 'how', s.how)), '[]')
     FROM allsel s LEFT JOIN broker.versions v ON v.id = s.vid) AS selectors,
  (SELECT coalesce(json_agg(json_build_object(
            'csid', m.csid, 'psid', m.psid, 'pub_id', m.pub_id, 'sha', m.sha,
            'pact_created_at', m.pact_created_at, 'cv_id', m.cv_id, 'pv_id', m.pv_id,
            'ppid', m.ppid, 'verification_id', m.verification_id, 'success', m.success,
            'verified_at', m.verified_at, 'consumer', c.name, 'provider', p.name,
            'cv_number', cv.number, 'pv_number', pv.number,
            'cv_branch', (SELECT b.name FROM broker.branch_versions bv
                            JOIN broker.branches b ON b.id = bv.branch_id
                           WHERE bv.version_id = m.cv_id ORDER BY bv.created_at DESC LIMIT 1),
            'pv_branch', (SELECT b.name FROM broker.branch_versions bv
                            JOIN broker.branches b ON b.id = bv.branch_id
                           WHERE bv.version_id = m.pv_id ORDER BY bv.created_at DESC LIMIT 1))),
          '[]')
     FROM matched m
     JOIN broker.versions cv ON cv.id = m.cv_id
     JOIN broker.pacticipants c ON c.id = cv.pacticipant_id
     JOIN broker.pacticipants p ON p.id = m.ppid
     LEFT JOIN broker.versions pv ON pv.id = m.pv_id) AS rows
"""  # noqa: S608 - composed from constants only


@dataclass
class SelectorInfo:
    sid: int
    explicit: bool
    name: str
    pid: int | None
    any_version: bool
    versions: dict[int, tuple[str, str | None]]  # version id -> (number, how)


@dataclass
class Row:
    data: dict[str, Any]
    ignored: bool = False

    @property
    def success(self) -> bool | None:
        value = self.data["success"]
        return None if value is None else bool(value)


@dataclass
class Summary:
    deployable: bool | None
    reasons: list[tuple[str, str]]  # (notice type, text)
    success: int
    failed: int
    unknown: int
    ignored: int


@dataclass
class MatrixResult:
    query: MatrixQuery
    rows: list[Row]
    summary: Summary
    truncated: bool


def _params(query: MatrixQuery) -> dict[str, Any]:
    return {
        "selectors": json.dumps(
            [
                {
                    "idx": i,
                    "pacticipant": s.pacticipant,
                    "version": s.version,
                    "latest": s.latest,
                    "tag": s.tag,
                    "branch": s.branch,
                    "main_branch": s.main_branch,
                    "environment": s.environment,
                }
                for i, s in enumerate(query.selectors)
            ]
        ),
        "environment": query.environment,
        "target": query.target,
        "tag": query.tag,
        "latestby": query.latestby or "",
    }


async def fetch_without_jit(
    conn: psycopg.AsyncConnection, sql: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Run one of the broker's selector-driven statements, in one network round trip.

    The planner cannot know how few selectors a JSON array holds (it assumes
    100 rows per ``jsonb_to_recordset``), so its estimates for these
    statements are far too high: it would JIT-compile for seconds and pick hash
    joins over whole tables where a handful of index lookups do. For this
    transaction only (``SET LOCAL``) JIT, hash and merge joins are off and the
    prepared statement keeps one generic plan (its one-time filters make one
    plan fit every kind of selector); the settings and the query travel
    together in one pipeline."""
    async with conn.pipeline():
        if conn.autocommit:
            await conn.execute("BEGIN")
        await conn.execute(
            "SELECT set_config('jit', 'off', true), set_config('enable_hashjoin', 'off', true),"
            " set_config('enable_mergejoin', 'off', true),"
            " set_config('plan_cache_mode', 'force_generic_plan', true)"
        )
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, params, prepare=True)
    rows = await cur.fetchall()
    if conn.autocommit:
        await conn.execute("COMMIT")
    return rows


async def run_matrix(conn: psycopg.AsyncConnection, query: MatrixQuery) -> MatrixResult:
    """One round trip to the database, then formatting and the deployability decision;
    :class:`MatrixLookupError` when the query names an unknown environment or pacticipant."""
    found = (await fetch_without_jit(conn, SQL, _params(query)))[0]
    if query.environment and not found["env_found"]:
        raise MatrixLookupError("environment", [f"no environment named '{query.environment}'"])
    selectors = _selector_infos(found["selectors"])
    missing = [
        query.selectors[s.sid].pacticipant
        for s in selectors.values()
        if s.explicit and s.pid is None
    ]
    if missing:
        raise MatrixLookupError("q", [f"no pacticipant named '{name}'" for name in missing])
    rows = _latest_by(_dedupe(found["rows"]), query.latestby)
    rows.sort(
        key=lambda r: (
            r.data["consumer"].lower(),
            -r.data["cv_id"],
            r.data["provider"].lower(),
            -(r.data["pv_id"] or 0),
        )
    )
    for row in rows:
        row.ignored = _is_ignored(row, query.ignore, selectors)
    summary = _summarise(query, selectors, rows)
    truncated = query.limit is not None and len(rows) > query.limit
    if truncated and query.limit is not None:
        rows = rows[: query.limit]
    return MatrixResult(query, rows, summary, truncated)


def _selector_infos(raw: Sequence[dict[str, Any]]) -> dict[int, SelectorInfo]:
    infos: dict[int, SelectorInfo] = {}
    for item in raw:
        info = infos.get(item["sid"])
        if info is None:
            info = infos[item["sid"]] = SelectorInfo(
                item["sid"], item["explicit"], item["name"], item["pid"], item["any"], {}
            )
        if item["vid"] is not None:
            info.versions[item["vid"]] = (item["number"], item["how"])
    return infos


def _dedupe(raw: Sequence[dict[str, Any]]) -> list[Row]:
    seen: dict[tuple[Any, ...], Row] = {}
    for data in raw:
        key = (data["pub_id"], data["pv_id"], data["verification_id"])
        if key not in seen:
            seen[key] = Row(data)
    return list(seen.values())


def _latest_by(rows: list[Row], latestby: str | None) -> list[Row]:
    """``cvp``: per consumer version and provider, the latest verification;
    ``cvpv``: per consumer version and provider version."""
    if latestby not in ("cvp", "cvpv"):
        return rows
    best: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        d = row.data
        key = (d["cv_id"], d["ppid"]) if latestby == "cvp" else (d["cv_id"], d["ppid"], d["pv_id"])
        current = best.get(key)
        if current is None or _rank(row) > _rank(current):
            best[key] = row
    return list(best.values())


def _rank(row: Row) -> tuple[int, int]:
    return (row.data["verification_id"] or 0, row.data["pv_id"] or 0)


def _is_ignored(row: Row, ignores: list[Ignore], selectors: dict[int, SelectorInfo]) -> bool:
    d = row.data
    for ignore in ignores:
        for name, number, sid in (
            (d["consumer"], d["cv_number"], d["csid"]),
            (d["provider"], d["pv_number"], d["psid"]),
        ):
            if name != ignore.pacticipant or selectors[sid].explicit:
                continue
            if ignore.version is None or ignore.version == number:
                return True
    return False


# --- words ---------------------------------------------------------------------


def _describe(query: MatrixQuery, info: SelectorInfo, number: str | None, how: str | None) -> str:
    name = info.name
    if info.explicit:
        s = query.selectors[info.sid]
        if s.version:
            return f"version {s.version} of {name}"
        kind, tag, branch = _explicit_kind(s)
    else:
        kind = query.target
        tag, branch = query.tag, None
    found = f"({number})" if number else "(no such version exists)"
    if kind == "environment":
        env = query.environment if not info.explicit else query.selectors[info.sid].environment
        if number is None:
            return (
                f"a version of {name} currently deployed or released to {env} (no version is"
                " currently recorded as deployed/released in this environment)"
            )
        prefix = "the only version" if len(info.versions) == 1 else "one of the versions"
        verb = "released to" if how == "released" else "deployed to"
        return f"{prefix} of {name} currently {verb} {env} ({number})"
    if kind == "latest_tag" or (kind == "tag" and not info.explicit):
        return f"the latest version of {name} with tag {tag} {found}"
    if kind == "latest_branch":
        return f"the latest version of {name} from branch {branch} {found}"
    if kind == "latest_main" or kind == "main_branch":
        return f"the latest version of {name} from the main branch {found}"
    if kind == "latest":
        return f"the latest version of {name} {found}"
    if kind == "tag":
        return f"a version of {name} with tag {tag} {found}"
    if kind == "branch":
        return f"a version of {name} from branch {branch} {found}"
    if kind == "main":
        return f"a version of {name} from the main branch {found}"
    return f"version {number} of {name}" if number else f"any version of {name}"


def _explicit_kind(s: Selector) -> tuple[str, str | None, str | None]:
    if s.environment:
        return "environment", None, None
    if s.latest:
        if s.tag:
            return "latest_tag", s.tag, None
        if s.branch:
            return "latest_branch", None, s.branch
        if s.main_branch:
            return "latest_main", None, None
        return "latest", None, None
    if s.tag:
        return "tag", s.tag, None
    if s.branch:
        return "branch", None, s.branch
    if s.main_branch:
        return "main", None, None
    return "any", None, None


def _missing_reason(s: Selector) -> str:
    if s.version:
        return (
            f"No pacts or verifications have been published for version {s.version}"
            f" of {s.pacticipant}"
        )
    if s.tag:
        return f"No version with tag {s.tag} exists for {s.pacticipant}"
    if s.branch:
        return f"No version of {s.pacticipant} from branch {s.branch} exists"
    if s.main_branch:
        return f"No version of {s.pacticipant} from the main branch exists"
    if s.environment:
        return f"No version of {s.pacticipant} is currently deployed or released to {s.environment}"
    return f"No pacts or verifications have been published for {s.pacticipant}"


def _summarise(query: MatrixQuery, selectors: dict[int, SelectorInfo], rows: list[Row]) -> Summary:
    considered = [r for r in rows if not r.ignored]
    ignored = [r for r in rows if r.ignored]
    success = sum(1 for r in considered if r.success is True)
    failed = sum(1 for r in considered if r.success is False)
    unknown = sum(1 for r in considered if r.success is None)
    missing = [
        _missing_reason(query.selectors[s.sid])
        for s in selectors.values()
        if s.explicit and not s.any_version and not s.versions
    ]
    if missing:
        return Summary(
            False, [("error", m) for m in missing], success, failed, unknown, len(ignored)
        )

    def side(row: Row, consumer: bool) -> str:
        d = row.data
        sid = d["csid"] if consumer else d["psid"]
        vid = d["cv_id"] if consumer else d["pv_id"]
        number = d["cv_number"] if consumer else d["pv_number"]
        info = selectors[sid]
        how = info.versions.get(vid, (None, None))[1] if vid is not None else None
        return _describe(query, info, number, how)

    errors: list[tuple[str, str]] = []
    for prefix, group in (("", considered), ("[IGNORED] ", ignored)):
        for row in group:
            if row.success is False:
                text = (
                    f"The verification for the pact between {side(row, True)} and"
                    f" {side(row, False)} failed"
                )
                errors.append(("error" if not prefix else "warning", prefix + text))
        for row in group:
            if row.success is None:
                text = f"There is no verified pact between {side(row, True)} and {side(row, False)}"
                errors.append(("error" if not prefix else "warning", prefix + text))
    unique = list(dict.fromkeys(errors))
    considered_errors = [e for e in unique if e[0] == "error"]
    if considered_errors:
        deployable: bool | None = False if failed else None
        return Summary(deployable, unique, success, failed, unknown, len(ignored))
    text = (
        "All required verification results are published and successful"
        if considered
        else "There are no missing dependencies"
    )
    return Summary(True, [("success", text), *unique], success, failed, unknown, len(ignored))
