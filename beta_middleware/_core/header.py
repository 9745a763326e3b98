"""The header rules every integration applies: what is sent, and to which hosts.

What is sent = the request's own `anthropic-beta` values, then the integration's
fixed betas, then the context's, each name once; nothing to add leaves the request
as it was. Integrations only adapt their stack's request object to `Rules`.
"""

from __future__ import annotations

from _thread import allocate_lock  # not `threading`: it costs start-up
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar, Token

from .known import warn_unknown
from .names import Merged, NameSet, parse_names
from .scope import current

__all__ = [
    "HEADER",
    "INSTALLED",
    "Below",
    "HostMatcher",
    "Rules",
    "below",
    "hand_down",
    "merge",
    "names_given",
    "owning",
    "sent",
    "settings",
    "split",
    "take_back",
]

HEADER = "anthropic-beta"


def split(values: Iterable[str]) -> tuple[str, ...]:
    """The names in header `values`: split on commas, blanks dropped, each once, in order."""
    return tuple(
        dict.fromkeys(name for value in values for item in value.split(",") if (name := item.strip()))
    )


def merge(own: Sequence[str], added: NameSet) -> str:
    """Join the request's own header values (comma-separated, blanks dropped) with `added`."""
    # a name already present keeps its first position
    return ",".join(dict.fromkeys((*split(own), *added.names)))


_AFTER_MAX = 64  # own values remembered per set of names: a client repeats a few


def sent(own: str | None, added: NameSet) -> str:
    """The value to send: the request's own value `own` (None or "" for none), then `added`.

    This runs on every request that has a value of its own, so the merge is remembered
    on `added` (a scope's names live as long as the scope) for each own value it met.
    The hottest paths look it up themselves, `added.after.get(own)`, and call this
    only when it is not there.
    """
    if not own:
        return added.joined
    value = added.after.get(own)
    if value is None:
        after = added.after
        memo: dict[str, str] = after if isinstance(after, dict) else {}  # the first own value
        if len(memo) >= _AFTER_MAX:
            memo.clear()  # own values that vary per request: not worth remembering
        value = memo[own] = merge((own,), added)
        added.after = memo
    return value


class HostMatcher:
    """Host names, matched case-insensitively: exact, or `*.example.com` for subdomains.

    `*.example.com` matches `api.example.com` and `a.b.example.com`, not `example.com`
    itself (list both for both). An internationalised name may be given as Unicode or
    in its `xn--` form: both forms are kept, as httpx gives a request's host in Unicode
    and requests in the `xn--` form. An IPv6 address may be given with or without
    brackets (`[::1]`, `::1`). Anything else - a scheme, port, path, userinfo, an empty
    label or a `*` other than a leading `*.` - is refused with `ValueError`.
    """

    __slots__ = ("exact", "last", "spec", "suffixes")

    def __init__(self, hosts: str | Iterable[str]) -> None:
        if isinstance(hosts, str):
            hosts = (hosts,)
        spec = tuple(dict.fromkeys(_host(host) for host in hosts))
        self.spec = tuple(form for forms in spec for form in forms[:1])
        """The entries as checked: lowercase, in `xn--` form, IPv6 compressed."""
        names = [form for forms in spec for form in forms]
        self.exact = frozenset(h for h in names if not h.startswith("*."))
        """The exact names, lowercase, in every form: a host that is in it matches without
        a call (stacks give hosts lowercase), anything else goes through the full check."""
        self.suffixes = tuple(h[1:] for h in names if h.startswith("*."))
        self.last = ("", False)
        """The last host asked about, and its answer: a client mostly calls one host. The
        installation's per-hop patch reads it inline, without a call."""

    def __call__(self, host: str) -> bool:
        last, matches = self.last
        if host != last:
            normal = host.rstrip(".").lower()
            if ":" in normal:  # an IPv6 address, perhaps spelt out in full
                normal = _ipv6(normal.strip("[]")) or normal
            matches = normal in self.exact or normal.endswith(self.suffixes)
            self.last = (host, matches)  # one tuple store: safe across threads
        return matches

    def __repr__(self) -> str:
        return f"HostMatcher({list(self.spec)!r})"


_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def _label(label: str) -> bool:
    """Whether `label` is one of a host name's: `[a-z0-9_]`, `-` inside, 1 to 63 long (no `re`: start-up)."""
    return 0 < len(label) <= 63 and _LABEL_CHARS.issuperset(label) and "-" not in (label[0], label[-1])


def _host(host: object) -> tuple[str, ...]:
    """The forms of one `hosts=` entry: the checked entry first, then its Unicode form if other."""
    if not isinstance(host, str):
        raise ValueError(f"invalid host {host!r}: expected a str such as 'api.anthropic.com'")
    why = _refusal(host)
    if why is None:
        if ":" in host:
            address = _ipv6(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
            if address is not None:
                return (address,)
            name, _, port = host.rpartition(":")
            spelt_port = port.isdigit() and (":" not in name or name.endswith("]"))
            why = "a port" if spelt_port else "not an IP address"
        else:
            normal = host[:-1] if host.endswith(".") else host
            wild = normal.startswith("*.")
            name = normal[2:] if wild else normal
            forms = _idna(name) if not name.isascii() or "xn--" in name.lower() else (name.lower(),)
            if forms is not None and all(_label(label) for label in forms[0].split(".")):
                return tuple(dict.fromkeys("*." + form if wild else form for form in forms))
            why = "not a host name"
    raise ValueError(
        f"invalid host {host!r}: {why}; expected a host name such as 'api.anthropic.com' or "
        "'*.example.com' (no scheme, port, path or userinfo), or an IP address"
    )


def _refusal(host: str) -> str | None:
    """What makes `host` something other than a host name, spotted by its characters."""
    if not host.strip():
        return "empty"
    if "://" in host:
        return "a scheme"
    if "/" in host or "?" in host or "#" in host:
        return "a path"
    if "@" in host:
        return "userinfo"
    if "*" in host[2:] or (host.startswith("*") and not host.startswith("*.")):
        return "a '*' that is not a leading '*.'"
    return None


def _ipv6(text: str) -> str | None:
    """`text` as a compressed IPv6 address, or None when it is none."""
    import ipaddress  # only for hosts spelt with ':': start-up

    try:
        return ipaddress.IPv6Address(text).compressed
    except ValueError:
        return None


def _idna(name: str) -> tuple[str, str] | None:
    """An internationalised `name` in its `xn--` form, then its Unicode form; None if invalid.

    The stacks encode host names with the `idna` package (IDNA 2008), so the forms are
    computed with it as well; without it (no HTTP stack installed) the standard library's
    IDNA 2003 codec stands in.
    """
    try:
        import idna  # loaded only for internationalised names
    except ImportError:
        try:
            ascii_ = name.encode("idna").decode("ascii").lower()
            return ascii_, ascii_.encode("ascii").decode("idna")
        except UnicodeError:
            return None
    try:
        ascii_ = idna.encode(name, uts46=True).decode("ascii")
        return ascii_, idna.decode(ascii_)
    except UnicodeError:  # idna.IDNAError is one
        return None


class Below:
    """What the outermost of our layers on a request's path tells the layers below it.

    Several of our layers may handle one request: an SDK middleware over an `http_client`
    with a `BetaTransport`, the installation over an explicit integration, a transport
    wrapping another. The outermost one that adds names owns the request: it alone
    merges the context's names, records what the caller set, and resends after a
    refusal. While it sends, `below` holds one of these for the layers under it, which
    add only their own `betas=` (less `left_off`, and nothing when the owner sent them all
    already), never resend, and report in `added` the names they would put on the request
    when they have `drop_rejected=True`.
    """

    __slots__ = ("added", "left_off", "resend", "sent")

    def __init__(
        self, sent: frozenset[str] = frozenset(), left_off: frozenset[str] = frozenset(), resend: bool = False
    ) -> None:
        self.sent = sent
        """The names the owner added: a layer below whose own names are all here adds nothing."""
        self.left_off = left_off
        """Names a layer above left off after a refusal: no layer below puts them back."""
        self.resend = resend
        """This send is a resend: what is learnt from its answer is not sent again."""
        self.added: list[tuple[Rules, frozenset[str]]] = []
        """(rules, names added) of each layer below with `drop_rejected=True` that added names."""


below: ContextVar[Below | None] = ContextVar("beta_middleware_below", default=None)
"""Set by the owner of a request while it sends it through layers that may be ours."""

owning: list[None] = []
"""One entry per such send under way, in any thread: while it is empty no layer reads `below`
(a context variable that is not set costs a request a lookup of the whole context)."""


def hand_down(under: Below) -> Token[Below | None]:
    """Start sending a request through layers that may be ours, which then see `under`."""
    owning.append(None)  # first: a layer below never misses `below`
    return below.set(under)


def take_back(token: Token[Below | None]) -> None:
    """End what `hand_down` started."""
    below.reset(token)
    owning.pop()


INSTALLED: list[object] = []
"""The installation while one is active: then an HTTP layer of ours may be under any SDK client."""


def names_given(value: object) -> bool:
    """Whether `value`, given where an integration takes something else, looks like beta names."""
    if isinstance(value, str):
        return True
    return (
        isinstance(value, (list, tuple, set, frozenset))
        and bool(value)
        and all(isinstance(v, str) for v in value)
    )


def settings(rules: Rules) -> str:
    """An integration's settings as its repr shows them: `betas=[...], hosts=[...]`."""
    hosts = None if rules.hosts is None else list(rules.hosts.spec)
    drop = ", drop_rejected=True" if rules.drop_rejected else ""
    return f"betas={list(rules.fixed.names)!r}, hosts={hosts!r}{drop}"


class Rules:
    """One integration's settings - `betas=`, `hosts=`, `drop_rejected=` - applied per request.

    Validation happens here, when the integration is built. Per request an
    integration reads `added()` - the names to add, and `.joined` the header value -
    which is a context-variable read and, when betas are fixed or some were dropped, a
    cache check (the merge is redone only when the innermost scope or the dropped names
    change).
    `drop()` records names the API rejected (see `beta_middleware._core.drop`).
    """

    __slots__ = (*("_cache", "_lock", "added", "drop_rejected", "dropped", "fixed", "hosts", "owner"),)

    owner: Callable[[], object] | None
    """A weak reference to the integration these rules belong to, for logs to name it."""

    added: Callable[[], NameSet]
    """The names this integration adds now: fixed, then the context's, less any dropped.

    With no fixed betas and nothing dropped that is the context's names as they are,
    read by the bound `ContextVar.get` itself: no Python call on the hot path.
    """

    def __init__(
        self,
        betas: str | Iterable[str] = (),
        hosts: str | Iterable[str] | None = None,
        drop_rejected: bool = False,
    ) -> None:
        self.fixed = NameSet(parse_names((betas,)))
        warn_unknown(self.fixed.names)
        self.hosts = None if hosts is None else HostMatcher(hosts)
        self.drop_rejected = bool(drop_rejected)
        self.owner = None
        # Names the API rejected (drop_rejected=True): left off every later request.
        self.dropped: frozenset[str] = frozenset()
        self._lock = allocate_lock()
        self.added = self._merged_added if self.fixed.names else current.get
        self._cache: tuple[NameSet | None, frozenset[str], NameSet] = (None, self.dropped, self.fixed)

    def __reduce__(self) -> tuple[type[Rules], tuple[tuple[str, ...], tuple[str, ...] | None, bool]]:
        return Rules, self._key()  # what was dropped is learnt anew by each copy

    def _key(self) -> tuple[tuple[str, ...], tuple[str, ...] | None, bool]:
        return self.fixed.names, None if self.hosts is None else self.hosts.spec, self.drop_rejected

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rules) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        hosts = None if self.hosts is None else list(self.hosts.spec)
        drop = ", drop_rejected=True" if self.drop_rejected else ""
        return f"Rules(betas={list(self.fixed.names)!r}, hosts={hosts!r}{drop})"

    def applies_to(self, host: str) -> bool:
        """Whether requests to `host` get betas from this integration."""
        return self.hosts is None or self.hosts(host)

    def _merged_added(self) -> NameSet:
        """`added()` when betas are fixed or some were dropped: merged once per context."""
        context = current.get()
        cached_for, dropped, added = self._cache
        if cached_for is context and dropped is self.dropped:
            return added
        # Many tasks taking turns would thrash the one-entry cache above, so each
        # context's names also remember their merge with the last rules that read them.
        # A hit there writes nothing and reads one object: with thousands of tasks
        # each request's data is out of the CPU caches, and every object read costs.
        dropped = self.dropped
        merged = context.merged
        if merged is not None and merged.fixed is self.fixed and merged.dropped is dropped:
            return merged
        names = self.fixed.extend(context.names)
        if dropped:
            names = names.without(dropped)
        merged = context.merged = Merged(names.names, self.fixed, dropped)
        self._cache = (context, dropped, merged)  # one tuple store: safe across threads
        return merged

    def value(self) -> str:
        """`added().joined`: what to send when the request has no value of its own ("": nothing)."""
        return self.added().joined

    def drop(self, names: Iterable[str]) -> tuple[str, ...]:
        """Leave `names` off every later request; return those not dropped before."""
        with self._lock:
            new = tuple(name for name in dict.fromkeys(names) if name not in self.dropped)
            if new:
                self.dropped = self.dropped.union(new)
                self.added = self._merged_added
        return new

    def below_names(self, under: Below) -> NameSet:
        """What this layer adds under another of ours: its own `betas=`, less what is left off."""
        names = self.fixed
        gone = self.dropped.union(under.left_off) if under.left_off else self.dropped
        return names.without(gone) if gone else names

    def header(self, own: str | None) -> str | None:
        """The value to send for a request whose own value is `own`; None: leave it be."""
        value = self.added().joined
        if not value:
            return None
        return sent(own, self.added()) if own else value
