# The candidate's side of the r1 "code" reward: loads the generated program
# and calls its functions on request from judge.py, which runs in another
# sandbox. Nothing here is trusted, and nothing here needs to be: this
# process holds no test source and no expected value, only the arguments of
# each call, and it reports no verdict. Whatever the program does to this
# process (patching builtins, walking frames, exiting) changes only the
# answers the judge gets, which the judge checks itself.
#
# Job on stdin (JSON): {"program": str, "setup": str, "timeout": float}.
# Requests arrive on fd 3 ({"id", "fn", "args", "kwargs"}, one JSON line
# each); replies leave on fd 4: first {"ready": true} (or {"ready": false,
# "err": str}), then {"id", "v": value} or {"id", "exc": name, "msg": str}.
# Values use judge.py's encoding: JSON scalars and lists as themselves,
# other types as {"$": tag, "v": data}.
import builtins
import collections
import decimal
import fractions
import itertools
import json
import os
import signal
import sys

REQ_FD, RESP_FD = 3, 4
MAX_REQUEST = 64 << 20
MAX_DEPTH = 200
MAX_ITEMS = 100000  # items taken from a returned iterator

# Objects returned that are not data, kept so that the judge can pass them
# back by handle.
objects = []


class _Timeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Timeout("time limit per test exceeded")


def send(obj):
    data = (json.dumps(obj) + "\n").encode()
    while data:
        data = data[os.write(RESP_FD, data) :]


def encode(x, depth=0):
    if depth > MAX_DEPTH:
        raise ValueError("result nested too deeply")
    t = type(x)
    if x is None or t is bool or t is int or t is float or t is str:
        return x
    d = depth + 1
    if t is list:
        return [encode(e, d) for e in x]
    if t is tuple:
        return {"$": "tuple", "v": [encode(e, d) for e in x]}
    if t is dict:
        return {"$": "dict", "v": [[encode(k, d), encode(v, d)] for k, v in x.items()]}
    if t is set or t is frozenset:
        return {"$": t.__name__, "v": [encode(e, d) for e in x]}
    if t is bytes or t is bytearray:
        return {"$": t.__name__, "v": x.hex()}
    if t is complex:
        return {"$": "complex", "v": [x.real, x.imag]}
    if t is range:
        return {"$": "range", "v": [x.start, x.stop, x.step]}
    if t is fractions.Fraction:
        return {"$": "fraction", "v": [x.numerator, x.denominator]}
    if t is decimal.Decimal:
        return {"$": "decimal", "v": str(x)}
    if t is collections.deque:
        return {"$": "deque", "v": [encode(e, d) for e in x]}
    # Subclasses of builtin types (namedtuple, IntEnum, Counter,
    # OrderedDict, defaultdict) send their data as the base type: what
    # crosses is the value, never its methods.
    if isinstance(x, bool):
        return bool(x)
    if isinstance(x, int):
        return int.__int__(x)
    if isinstance(x, float):
        return float.__float__(x)
    if isinstance(x, str):
        return str.__str__(x)
    if isinstance(x, tuple):
        return {"$": "tuple", "v": [encode(e, d) for e in tuple.__iter__(x)]}
    if isinstance(x, list):
        return [encode(e, d) for e in list.__iter__(x)]
    if isinstance(x, dict):
        return {"$": "dict", "v": [[encode(k, d), encode(v, d)] for k, v in dict.items(x)]}
    if isinstance(x, (set, frozenset)):
        return {"$": "frozenset" if isinstance(x, frozenset) else "set", "v": [encode(e, d) for e in x]}
    if hasattr(t, "__next__") and hasattr(t, "__iter__"):
        items = list(itertools.islice(x, MAX_ITEMS + 1))
        if len(items) > MAX_ITEMS:
            raise ValueError("returned iterator has more than %d items" % MAX_ITEMS)
        return {"$": "iter", "v": [[encode(e, d) for e in items], str(t.__name__)[:100]]}
    if t is type and getattr(builtins, x.__name__, None) is x:
        return {"$": "type", "v": x.__name__}
    objects.append(x)
    return {"$": "opaque", "v": [str(getattr(t, "__name__", "object"))[:100], len(objects) - 1]}


def decode(o, g, depth=0):
    if depth > MAX_DEPTH:
        raise ValueError("argument nested too deeply")
    t = type(o)
    if t is list:
        return [decode(e, g, depth + 1) for e in o]
    if t is not dict:
        return o
    tag, v = o["$"], o["v"]
    d = depth + 1
    if tag == "tuple":
        return tuple(decode(e, g, d) for e in v)
    if tag == "dict":
        return {decode(k, g, d): decode(val, g, d) for k, val in v}
    if tag == "set":
        return set(decode(e, g, d) for e in v)
    if tag == "frozenset":
        return frozenset(decode(e, g, d) for e in v)
    if tag == "bytes":
        return bytes.fromhex(v)
    if tag == "bytearray":
        return bytearray.fromhex(v)
    if tag == "complex":
        return complex(*v)
    if tag == "range":
        return range(*v)
    if tag == "fraction":
        return fractions.Fraction(*v)
    if tag == "decimal":
        return decimal.Decimal(v)
    if tag == "deque":
        return collections.deque(decode(e, g, d) for e in v)
    if tag == "ref":
        return g[v]
    if tag == "obj":
        return objects[v]
    if tag == "type":
        return getattr(builtins, v)
    raise ValueError("unknown argument tag %r" % (tag,))


def builtin_name(e):
    """The nearest builtin class of an exception, which is all the judge
    can re-raise."""
    for c in type(e).__mro__:
        if getattr(builtins, getattr(c, "__name__", ""), None) is c:
            return c.__name__
    return "Exception"


def describe(e):
    try:
        s = builtin_name(e)
        msg = str(e)
        if msg:
            s += ": " + msg
        return s[:300]
    except BaseException:
        return "error"


def main():
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(100000)
    job = json.loads(sys.stdin.read())
    # The program's output has nowhere to go: it cannot reach the verdict,
    # and must not fill the sandbox's output limit.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    requests = os.fdopen(REQ_FD, "rb")
    timeout = float(job.get("timeout") or 3.0)
    signal.signal(signal.SIGALRM, _on_alarm)

    g = {"__name__": "__main__", "__builtins__": builtins}
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        exec(compile(job.get("program") or "", "solution.py", "exec"), g)
        if job.get("setup"):
            exec(compile(job["setup"], "setup.py", "exec"), g)
    except BaseException as e:  # the program itself is broken or too slow
        signal.setitimer(signal.ITIMER_REAL, 0)
        send({"ready": False, "err": describe(e)})
        return
    signal.setitimer(signal.ITIMER_REAL, 0)
    del job
    send({"ready": True})

    while True:
        line = requests.readline(MAX_REQUEST)
        if not line:
            return
        try:
            req = json.loads(line)
            k = req["id"]
        except Exception:
            continue  # a fragment of a request cut short by a timeout
        fn = g.get(req.get("fn"))
        if fn is None:
            send({"id": k, "exc": "NameError", "msg": "name %r is not defined" % (req.get("fn"),)})
            continue
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                r = fn(*decode(req["args"], g), **{key: decode(v, g) for key, v in req["kwargs"].items()})
                reply = {"id": k, "v": encode(r)}
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException as e:
            signal.setitimer(signal.ITIMER_REAL, 0)
            reply = {"id": k, "exc": builtin_name(e), "msg": describe(e)}
        try:
            send(reply)
        except (TypeError, ValueError, RecursionError):
            send({"id": k, "exc": "ValueError", "msg": "result cannot be sent"})


if __name__ == "__main__":
    main()
