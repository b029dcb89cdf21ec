"""Security (issue 7, item 5): no shell strings, SQL only with parameters, no pickle, no network, private store.

The source scan reads every module under avrec/ with `ast` (not grep, so comments and docstrings never
count) and enforces these rules:

1. No shell: no call passes `shell=True`; no `os.system`, `os.popen`, `subprocess.getoutput` or
   `subprocess.getstatusoutput`; no `eval`/`exec`.
2. No pickle: no import of `pickle`, `cPickle`, `dill`, `joblib`, `shelve` or `marshal`; nothing passes
   `allow_pickle=True` or `weights_only=False`; every `np.load(...)` says `allow_pickle=False`; every
   `torch.load(...)` says `weights_only=True`.
3. SQL only in avrec/store/, only with parameters. The SQL text given to `execute`, `executemany` or
   `executescript` is a string literal, or an f-string / `+` concatenation whose every interpolated piece
   is *constant*: a module-level UPPER_CASE name (e.g. a column list), a literal, a choice between
   literals (`"thumb" if x else "NULL"`), or a placeholder list built from `"?"` (`",".join("?" * n)`);
   a local name counts when every assignment to it in the function is such a constant. Values -- ids,
   paths, anything a user supplies -- travel only as parameters. `%` formatting and `.format()` of SQL
   are rejected outright. `SQL_REVIEWED` lists the reviewed exceptions (the migration runner executes
   statements split from the schema literal in source).
"""

from __future__ import annotations

import ast
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.reliability.conftest import REPO, SAMPLE, avrec_env, ok, run_avrec

AVREC_SRC = REPO / "avrec"
SQL_METHODS = {"execute", "executemany", "executescript"}
#: Reviewed exceptions to the SQL rule: (file, SQL expression) -> why it is constant anyway.
SQL_REVIEWED = {
    ("avrec/store/migrations.py", "statement"): "statements split from the MIGRATIONS literal (schema in source)",
    ("avrec/store/db.py", "child_delete"): "table and column names read from the database's own foreign keys "
    "(Store._children_of checks they are identifiers); the ids are a parameter",
    ("avrec/store/db.py", "f'{insert} VALUES {values}'"): "_insert_rows: `insert` is one of the constant INSERT "
    "heads of Store.add_interaction_blocks, `values` numbered placeholders (?1, ?2, ...) only",
}
PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "joblib", "shelve", "marshal", "cloudpickle"}


# -- the source scan ----------------------------------------------------------------------------------


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_const(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


class _Scope:
    """Assignments to local names in one function (or the module), for resolving SQL fragments."""

    def __init__(self, node: ast.AST) -> None:
        self.assigned: dict[str, list[ast.expr]] = {}
        for sub in ast.walk(node):
            if isinstance(sub, ast.Assign):
                for target in sub.targets:
                    if isinstance(target, ast.Name):
                        self.assigned.setdefault(target.id, []).append(sub.value)
            elif isinstance(sub, (ast.AnnAssign, ast.AugAssign)) and isinstance(sub.target, ast.Name):
                if sub.value is not None:
                    self.assigned.setdefault(sub.target.id, []).append(sub.value)


def _constant_piece(node: ast.expr, scope: _Scope, depth: int = 0) -> bool:
    """True when `node` can only evaluate to text the code itself fixed (see the module docstring)."""
    if depth > 5:
        return False
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, int, float))
    if isinstance(node, ast.Name):
        name = node.id.lstrip("_")
        if name and name.upper() == name and any(c.isalpha() for c in name):
            return True  # module-level constant
        values = scope.assigned.get(node.id)
        return values is not None and bool(values) and all(_constant_piece(v, scope, depth + 1) for v in values)
    if isinstance(node, ast.IfExp):
        return _constant_piece(node.body, scope, depth + 1) and _constant_piece(node.orelse, scope, depth + 1)
    if isinstance(node, ast.JoinedStr):
        return all(
            isinstance(v, ast.Constant) or (isinstance(v, ast.FormattedValue)
                                            and _constant_piece(v.value, scope, depth + 1))
            for v in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _constant_piece(node.left, scope, depth + 1) and _constant_piece(node.right, scope, depth + 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        # "?" * n: a run of placeholders, whatever n is
        return isinstance(node.left, ast.Constant) and node.left.value in ("?", "?,", ",?")
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
            and isinstance(node.func.value, ast.Constant) and len(node.args) == 1):
        arg = node.args[0]
        if isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Mult):
            return _constant_piece(arg, scope, depth + 1)
        if isinstance(arg, (ast.List, ast.Tuple)):
            return all(_constant_piece(e, scope, depth + 1) for e in arg.elts)
        if isinstance(arg, ast.GeneratorExp):  # "?" for each value
            return _constant_piece(arg.elt, scope, depth + 1)
        return False
    return False


def scan_source(source: str, filename: str, *, sql_allowed: bool) -> list[str]:
    """Every rule violation in one module's source, as `file:line: what`."""
    tree = ast.parse(source, filename)
    problems: list[str] = []

    def bad(node: ast.AST, what: str) -> None:
        problems.append(f"{filename}:{getattr(node, 'lineno', '?')}: {what}")

    scopes: dict[ast.AST, _Scope] = {}
    parents: dict[ast.AST, ast.AST] = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent

    def scope_of(node: ast.AST) -> _Scope:
        cur: ast.AST | None = node
        while cur is not None and not isinstance(cur, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
            cur = parents.get(cur)
        key = cur if cur is not None else tree
        if key not in scopes:
            scopes[key] = _Scope(key)
        return scopes[key]

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PICKLE_MODULES:
                    bad(node, f"imports {alias.name} (pickle-style deserialisation)")
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in PICKLE_MODULES:
                bad(node, f"imports from {node.module} (pickle-style deserialisation)")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if _is_const(_kw(node, "shell"), True):
                bad(node, "shell=True")
            if name in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
                        "eval", "exec"):
                bad(node, f"{name}()")
            if _is_const(_kw(node, "allow_pickle"), True):
                bad(node, "allow_pickle=True")
            if _is_const(_kw(node, "weights_only"), False):
                bad(node, "weights_only=False")
            if name in ("np.load", "numpy.load") and not _is_const(_kw(node, "allow_pickle"), False):
                bad(node, f"{name}() without allow_pickle=False")
            if name == "torch.load" and not _is_const(_kw(node, "weights_only"), True):
                bad(node, "torch.load() without weights_only=True")
            if isinstance(node.func, ast.Attribute) and node.func.attr in SQL_METHODS and node.args:
                if not sql_allowed:
                    bad(node, f".{node.func.attr}() outside avrec/store/ (only the store speaks SQL)")
                    continue
                sql = node.args[0]
                if isinstance(sql, ast.BinOp) and isinstance(sql.op, ast.Mod):
                    bad(node, "SQL built with % formatting")
                elif isinstance(sql, ast.Call) and isinstance(sql.func, ast.Attribute) and sql.func.attr == "format":
                    bad(node, "SQL built with .format()")
                elif (filename, ast.unparse(sql)) in SQL_REVIEWED:
                    pass
                elif not _constant_piece(sql, scope_of(node)):
                    bad(node, f"SQL text is not constant: {ast.unparse(sql)[:80]!r}; pass values as parameters")
    return problems


def _modules() -> list[Path]:
    return sorted(p for p in AVREC_SRC.rglob("*.py") if "__pycache__" not in p.parts)


def test_source_scan_finds_no_shell_pickle_or_unparameterised_sql() -> None:
    problems: list[str] = []
    for path in _modules():
        rel = path.relative_to(REPO)
        in_store = rel.parts[:2] == ("avrec", "store")
        problems += scan_source(path.read_text(encoding="utf-8"), str(rel), sql_allowed=in_store)
    assert not problems, "security rules broken:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "snippet, expected",
    [
        ("import subprocess\nsubprocess.run('ls', shell=True)", "shell=True"),
        ("import os\nos.system('ffmpeg -i ' + name)", "os.system"),
        ("import os\nos.popen('ls')", "os.popen"),
        ("import pickle", "imports pickle"),
        ("from joblib import load", "joblib"),
        ("import numpy as np\nnp.load(p, allow_pickle=True)", "allow_pickle=True"),
        ("import numpy as np\nnp.load(p)", "without allow_pickle=False"),
        ("import torch\ntorch.load(p)", "without weights_only=True"),
        ("import torch\ntorch.load(p, weights_only=False)", "weights_only=False"),
        ("def f(conn, uid):\n    conn.execute(f'SELECT * FROM users WHERE user_id = {uid}')", "not constant"),
        ("def f(conn, uid):\n    conn.execute('SELECT * FROM users WHERE user_id = ' + uid)", "not constant"),
        ("def f(conn, uid):\n    conn.execute('SELECT * FROM t WHERE a = %s' % uid)", "% formatting"),
        ("def f(conn, uid):\n    conn.execute('SELECT * FROM t WHERE a = {}'.format(uid))", ".format()"),
        ("def f(conn, table):\n    sql = f'DELETE FROM {table}'\n    conn.execute(sql)", "not constant"),
    ],
)
def test_scan_catches_each_rule(snippet: str, expected: str) -> None:
    problems = scan_source(textwrap.dedent(snippet), "snippet.py", sql_allowed=True)
    assert any(expected in p for p in problems), problems


def test_scan_accepts_constant_sql_pieces() -> None:
    snippet = textwrap.dedent('''
        COLS = "a, b, c"
        def f(conn, ids, with_thumb):
            marks = ",".join("?" * len(ids))
            thumb = "thumb" if with_thumb else "NULL"
            conn.execute(f"SELECT {COLS}, {thumb} FROM t WHERE id IN ({marks})", ids)
            conn.execute(f"INSERT INTO t({COLS}) VALUES ({','.join('?' * 3)})", (1, 2, 3))
            conn.execute("SELECT 1 FROM t WHERE id = ?", (ids[0],))
    ''')
    assert scan_source(snippet, "ok.py", sql_allowed=True) == []
    assert scan_source(snippet, "ok.py", sql_allowed=False)  # ...but only inside avrec/store/


# -- the store is private -------------------------------------------------------------------------------


def _loose(path: Path) -> list[str]:
    """Files and folders under `path` that a group or other user could read, write or enter."""
    found = []
    for p in [path, *path.rglob("*")]:
        if p.is_symlink():
            continue
        mode = stat.S_IMODE(p.stat().st_mode)
        if mode & 0o077:
            found.append(f"{p.relative_to(path.parent)} {oct(mode)}")
    return found


def test_store_is_created_owner_only(tmp_path: Path) -> None:
    """Even under a permissive umask, the store (db, WAL, lock, models, indexes) is owner-only."""
    store = tmp_path / "nested" / "store"
    old = os.umask(0o022)
    try:
        ok(run_avrec(store, "ingest", "catalog", str(SAMPLE / "catalog.csv")))
        ok(run_avrec(store, "ingest", "interactions", str(SAMPLE / "interactions.csv")))
        ok(run_avrec(store, "fit", "--model", "mf", "--format", "json"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert stat.S_IMODE((store / "avrec.db").stat().st_mode) == 0o600
    assert list((store / "models").glob("*.npz")) and list((store / "indexes").glob("*.ann"))
    assert _loose(store) == []


# -- no network at run time ---------------------------------------------------------------------------------

BLOCK_NETWORK = '''
"""Loaded by every Python process of the no-network test: any attempt to reach the network fails and is logged."""
import os
import socket

_LOG = os.environ["AVREC_NET_LOG"]


def _deny(what):
    with open(_LOG, "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()} {what}\\n")
    raise OSError(101, f"network blocked by the test: {what}")


_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _deny(f"connect {address!r}")
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _deny(f"connect_ex {address!r}")
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost", "127.0.0.1", "::1"):
        _deny(f"getaddrinfo {host!r}")
    return _getaddrinfo(host, *args, **kwargs)


_getaddrinfo = socket.getaddrinfo
socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.getaddrinfo = getaddrinfo
'''


@pytest.mark.slow
def test_whole_sample_pipeline_runs_with_sockets_blocked(tmp_path: Path) -> None:
    """ingest (catalog, media, interactions) -> embed -> fit -> recommend -> explain -> similar -> search,
    each a process whose sockets are blocked; the pipeline succeeds and nothing even tried to connect."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_NETWORK)
    net_log = tmp_path / "network-attempts.log"
    net_log.touch()
    env = avrec_env({"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                     "AVREC_NET_LOG": str(net_log)})
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env.pop(var, None)  # the code must not need these hints to stay offline
    store = tmp_path / "store"

    # The block works: a plain connect attempt in the same environment fails and is logged.
    check = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('pypi.org', 443), 3)"],
                           env=env, capture_output=True, text=True, check=False)
    assert check.returncode != 0 and "network blocked" in check.stderr
    net_log.write_text("")

    steps = [
        ("ingest", "catalog", str(SAMPLE / "catalog.csv")),
        ("ingest", "media", str(SAMPLE)),
        ("ingest", "interactions", str(SAMPLE / "interactions.csv")),
        ("embed", "--format", "json"),
        ("fit", "--format", "json", "--seed", "1"),
        ("recommend", "--user", "u_calm", "-k", "5", "--format", "csv"),
        ("explain", "--user", "u_calm", "--item", "ocean", "--format", "json"),
        ("info", "--format", "json"),
        ("similar", "rain", "-k", "3", "--format", "csv"),
        ("search", "rain at night", "-k", "3", "--format", "csv"),
    ]
    for step in steps:
        proc = run_avrec(store, *step, env=env, timeout=600)
        assert proc.returncode == 0, f"{' '.join(step)} failed offline:\n{proc.stderr[-3000:]}"
        assert proc.stdout.strip(), f"{' '.join(step)} printed nothing"
    assert net_log.read_text() == "", f"something tried the network:\n{net_log.read_text()}"
