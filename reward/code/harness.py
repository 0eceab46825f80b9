# Test harness run inside the sandbox by the r1 "code" reward.
#
# Reads one JSON job from stdin:
#   {"nonce": str, "program": str, "setup": str, "tests": [str],
#    "check": str, "entry_point": str, "timeout": float}
# "tests" are standalone statements (MBPP asserts) run at module level after
# the program and "setup". "check" is HumanEval test code defining
# check(candidate); each statement of check's body that calls the candidate
# and asserts becomes one test, run inside check so the function's scoping is
# kept. Every test gets its own time limit, so one slow case does not sink
# the others.
#
# Results go to a private duplicate of stdout, one line per event, each
# prefixed with the nonce:  "<nonce> {"test": i, "ok": bool, "err": str}".
# The program's own stdout and stderr go to /dev/null so that it can neither
# flood the output limit nor print fake results.
import ast
import json
import os
import signal
import sys


class _Timeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Timeout("time limit per test exceeded")


def main():
    job = json.loads(sys.stdin.read())
    nonce = job["nonce"]
    program = job.get("program") or ""
    setup = job.get("setup") or ""
    entry_point = job.get("entry_point") or ""
    out = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    timeout = float(job.get("timeout") or 3.0)
    signal.signal(signal.SIGALRM, _on_alarm)

    def emit(obj):
        out.write(nonce + " " + json.dumps(obj) + "\n")
        out.flush()

    def describe(e):
        s = type(e).__name__
        msg = str(e)
        if msg:
            s += ": " + msg
        return s[:300]

    def begin(i):
        signal.setitimer(signal.ITIMER_REAL, timeout)

    def passed(i):
        signal.setitimer(signal.ITIMER_REAL, 0)
        emit({"test": i, "ok": True})

    def failed(i, e):
        signal.setitimer(signal.ITIMER_REAL, 0)
        emit({"test": i, "ok": False, "err": describe(e)})

    g = {"__name__": "__main__", "__builtins__": __builtins__}
    tests = job.get("tests") or []
    check = job.get("check") or ""
    check_tests = []
    if check:
        try:
            check_tests, check_code = _rewrite_check(check)
        except Exception as e:
            emit({"check_error": describe(e)})
            return
    whole_check = bool(check) and not check_tests
    emit({"total": len(tests) + len(check_tests) + (1 if whole_check else 0)})
    del job

    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        exec(compile(program, "solution.py", "exec"), g)
        if setup:
            exec(compile(setup, "setup.py", "exec"), g)
    except BaseException as e:  # the program itself is broken or too slow
        signal.setitimer(signal.ITIMER_REAL, 0)
        emit({"program_error": describe(e)})
        return
    signal.setitimer(signal.ITIMER_REAL, 0)

    for i, src in enumerate(tests):
        begin(i)
        try:
            exec(compile(src, "test_%d.py" % i, "exec"), g)
        except BaseException as e:
            failed(i, e)
        else:
            passed(i)

    if whole_check:
        # No statement of check could be told apart as a test: the whole
        # check is one test.
        i = len(tests)
        begin(i)
        try:
            exec(compile(check, "test.py", "exec"), g)
            g["check"](g[entry_point])
        except BaseException as e:
            failed(i, e)
        else:
            passed(i)
    elif check_tests:
        base = len(tests)
        g["_r1_begin"] = lambda i: begin(base + i)
        g["_r1_pass"] = lambda i: passed(base + i)
        g["_r1_fail"] = lambda i, e: failed(base + i, e)
        try:
            exec(check_code, g)
            g["check"](g[entry_point])
        except BaseException as e:
            signal.setitimer(signal.ITIMER_REAL, 0)
            emit({"check_error": describe(e)})
    emit({"done": True})


def _mentions(node, name):
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _is_test(stmt, arg):
    has_assert = any(isinstance(n, ast.Assert) for n in ast.walk(stmt))
    return has_assert and _mentions(stmt, arg)


def _rewrite_check(src):
    """Wraps each test statement of check's body in begin/pass/fail calls."""
    tree = ast.parse(src, "test.py")
    fn = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check":
            fn = node
    if fn is None or not fn.args.args:
        raise ValueError("test code defines no check(candidate) function")
    arg = fn.args.args[0].arg
    body = []
    n = 0
    for stmt in fn.body:
        if not _is_test(stmt, arg):
            body.append(stmt)
            continue
        call = lambda name, *args: ast.Expr(ast.Call(ast.Name(name, ast.Load()), list(args), []))
        idx = ast.Constant(n)
        handler = ast.ExceptHandler(
            type=ast.Name("BaseException", ast.Load()),
            name="_r1_e",
            body=[call("_r1_fail", idx, ast.Name("_r1_e", ast.Load()))],
        )
        body.append(call("_r1_begin", idx))
        body.append(ast.Try(body=[stmt], handlers=[handler], orelse=[call("_r1_pass", idx)], finalbody=[]))
        n += 1
    fn.body = body or [ast.Pass()]
    ast.fix_missing_locations(tree)
    return list(range(n)), compile(tree, "test.py", "exec")


if __name__ == "__main__":
    main()
