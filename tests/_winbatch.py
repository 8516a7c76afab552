"""Windows without Windows: a static checker for the launchers' .bat files and an emulation of how a
command line built by cmd.exe reaches a program.

``lint_bat`` reads a .bat file the way cmd.exe parses it (one physical line at a time, quotes, ``^``,
parenthesised blocks, ``IF``/``FOR``/``ELSE`` prefixes) and reports:

* ``stale``: ``%VAR%`` read inside a parenthesised block (or later on the same line) after ``VAR`` was set
  there: percent expansion happens once, when the whole block is read, so the read sees the old value;
* ``unquoted``: a ``%VAR%`` / ``%~1`` expansion outside double quotes whose value can hold a space, ``&``,
  ``(x86)``'s ``)`` or nothing at all. Such a value splits the command, ends the enclosing block (``ECHO``
  in a block) or breaks an ``IF`` (``IF  EQU 12``). Safe: variables the file itself only sets to plain
  literals, numbers (``SET /A``) or ``%ERRORLEVEL%``, and a subroutine's arguments when every ``CALL`` passes
  plain names. ``!VAR!`` (delayed expansion) is safe: it is expanded after the line was parsed;
* ``delayed``: ``!VAR!`` in a file that never enables delayed expansion (it would stay literal);
* ``exit``: a way out of the file that skips the pause logic (any ``exit`` other than the one after
  ``:finish``, ``GOTO :EOF`` outside a subroutine, falling through into a subroutine, a ``PAUSE`` outside
  ``:pause_if_asked``, a ``:finish`` that does not call it, or a pause decision that does not default
  ``PAUSE_AT_END`` itself and look at ``%CMDCMDLINE%``);
* ``path``: a ``SET "CMD=!CMD! --flag ..."`` line passing a path setting unquoted, or a quoted value that was
  not normalised (``CALL :normalise_path`` / ``:strip_trailing_backslashes``) before the command is built.

``lint_setup`` checks that a set-up script finds GPUs by ``nvidia-smi`` as well as ``nvcc`` and replaces an
installed torch of another build (an installed ``2.14.1+cpu`` satisfies ``torch==2.14.1``, so pip alone
never switches).

``windows_argv`` implements the documented ``CommandLineToArgvW`` / MSVC CRT splitting rules (Python's own
``sys.argv`` on Windows) and ``cmd_unquoted_specials`` the characters cmd.exe would act on in an expanded
``%CMD%`` line, so tests can check what Python receives from the command a launcher builds.
"""

from __future__ import annotations

import ntpath
import re
from dataclasses import dataclass, field

CMD_SPECIALS = "&|<>^"


# ---------------------------------------------------------------- Windows argument splitting -------------


def windows_argv(line: str) -> list[str]:
    """Split a command line as CommandLineToArgvW / the MSVC CRT do.

    argv[0] (the program) ends at the next space, or at the next quote when it starts with one, and takes
    no backslash escapes. In the arguments: 2n backslashes before a quote give n backslashes and the quote
    opens or closes quoted mode; 2n+1 backslashes before a quote give n backslashes and a literal quote;
    backslashes not before a quote are literal; ``""`` inside quoted mode is a literal quote; spaces and
    tabs outside quoted mode separate arguments.
    """
    args: list[str] = []
    i, n = 0, len(line)
    while i < n and line[i] in " \t":
        i += 1
    if i < n and line[i] == '"':
        end = line.find('"', i + 1)
        end = n if end < 0 else end
        args.append(line[i + 1:end])
        i = end + 1
    else:
        end = i
        while end < n and line[end] not in " \t":
            end += 1
        args.append(line[i:end])
        i = end
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return args
        current: list[str] = []
        quoted = False
        while i < n:
            c = line[i]
            if c == "\\":
                k = i
                while k < n and line[k] == "\\":
                    k += 1
                count = k - i
                if k < n and line[k] == '"':
                    current.append("\\" * (count // 2))
                    if count % 2:
                        current.append('"')
                        k += 1
                    i = k
                else:
                    current.append("\\" * count)
                    i = k
            elif c == '"':
                if quoted and i + 1 < n and line[i + 1] == '"':
                    current.append('"')
                    i += 2
                else:
                    quoted = not quoted
                    i += 1
            elif c in " \t" and not quoted:
                break
            else:
                current.append(c)
                i += 1
        args.append("".join(current))


def flag_line_taken(condition: str | None, values: dict[str, str]) -> bool:
    """Whether a launcher's ``[IF condition] SET "CMD=!CMD! ..."`` line adds its flag for these setting
    values; the conditions the launchers use: ``/I [NOT] "!X!"=="true"`` and ``DEFINED X``."""
    if condition is None:
        return True
    c = re.fullmatch(r'/I (NOT )?"!(\w+)!"=="true"|DEFINED (\w+)', condition)
    assert c, f"unreadable launcher condition: {condition}"
    if c[3]:
        return values.get(c[3], "") != ""
    return (values[c[2]].lower() == "true") != bool(c[1])


def cmd_unquoted_specials(line: str) -> list[str]:
    """Characters of an expanded ``%CMD%`` line that cmd.exe acts on: ``& | < > ^`` outside double quotes
    (cmd knows no backslash escape: only ``"`` toggles its quoting), and ``!`` anywhere (delayed expansion
    is on in the launcher)."""
    found, quoted = [], False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif (c in CMD_SPECIALS and not quoted) or c == "!":
            found.append(c)
    return found


def full_path(value: str, cwd: str) -> str:
    """``%%~fI`` (GetFullPathName): a relative path joined to ``cwd``, ``.``/``..`` and repeated separators
    resolved. A POSIX absolute path (the tests' real files) stands for an already full path."""
    if value.startswith("/"):
        return value
    return ntpath.normpath(ntpath.join(cwd, value))


def strip_trailing_backslashes(value: str) -> str:
    """``:strip_trailing_backslashes``."""
    return value.rstrip("\\")


def normalise_path(value: str, cwd: str) -> str:
    """``:normalise_path``: full path, no trailing backslash, a drive root ``D:`` as ``D:\\.``."""
    result = strip_trailing_backslashes(full_path(value, cwd))
    return result + "\\." if result.endswith(":") else result


# ---------------------------------------------------------------- reading .bat files ----------------------


@dataclass
class Command:
    line: int               # 1-based physical line
    start: int              # offset of the command's text in the line
    head_start: int         # offset of its IF/FOR/ELSE prefixes
    text: str               # the command after IF/FOR/ELSE prefixes
    head: str               # the whole command including its prefixes
    depth: int              # parenthesis depth it runs at
    block: int | None       # id of the outermost block it is in (None: top level)
    unit: tuple             # commands parsed together: (line,) at top level, ("block", id) in a block
    conditional: bool       # behind an IF or FOR prefix, or inside a block


@dataclass
class Expansion:
    line: int
    pos: int
    name: str               # variable name, or the argument digit for %1 / %~dp0
    is_arg: bool
    quoted: bool
    command: Command


@dataclass
class Parsed:
    lines: list[str]
    commands: list[Command] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)   # lower-case label -> line
    label_lines: set[int] = field(default_factory=set)


IF_PREFIX = re.compile(r"IF\s+(?:/I\s+)?(?:NOT\s+)?", re.I)
IF_UNARY = re.compile(r'(?:DEFINED|EXIST|ERRORLEVEL)\s+("[^"]*"|\S+)\s+', re.I)
OPERAND = r'(?:"[^"]*"|[^\s="]+)'
IF_BINARY = re.compile(rf"{OPERAND}\s*(?:==|\s(?:EQU|NEQ|LSS|LEQ|GTR|GEQ)\s)\s*{OPERAND}\s+", re.I)
FOR_HEAD = re.compile(r'FOR\s+(?:/[A-Z]\s+(?:"[^"]*"\s+)?)?%%\w\s+IN\s+\(', re.I)
ELSE = re.compile(r"ELSE\s+", re.I)
EXPANSION = re.compile(r"%%(?:~[a-zA-Z]*)?[a-zA-Z]|%(~[a-zA-Z$]*)?([0-9*])|%([A-Za-z_][\w#$@]*)(?::[^%]*)?%")
SET_TARGET = re.compile(r'^SET\s+(/A\s+)?"?([A-Za-z_][\w#$@]*|%~?1)=', re.I)


def _peel(s: str, p: int) -> tuple[int, bool]:
    """Skip ``@``, ``IF cond``, ``FOR ... DO`` and ``ELSE`` prefixes from ``p``; True when there was one."""
    prefixed = False
    while True:
        while p < len(s) and s[p] in " \t@":
            p += 1
        m = IF_PREFIX.match(s, p)
        if m:
            q = m.end()
            cond = IF_UNARY.match(s, q) or IF_BINARY.match(s, q)
            if cond:
                p, prefixed = cond.end(), True
                continue
        m = FOR_HEAD.match(s, p)
        if m:
            q, quoted, depth = m.end(), False, 1
            while q < len(s) and depth:
                if s[q] == '"':
                    quoted = not quoted
                elif not quoted and s[q] == "(":
                    depth += 1
                elif not quoted and s[q] == ")":
                    depth -= 1
                q += 1
            do = re.compile(r"\s+DO\s+", re.I).match(s, q)
            if do:
                p, prefixed = do.end(), True
                continue
        m = ELSE.match(s, p)
        if m:
            p = m.end()
            continue
        return p, prefixed


def parse_bat(text: str) -> Parsed:
    lines = text.replace("\r\n", "\n").split("\n")
    parsed = Parsed(lines)
    depth, block_id, blocks = 0, None, 0
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if not stripped or re.match(r"(?i)(REM(\s|$)|::)", stripped):
            continue
        if stripped.startswith(":"):
            parsed.labels[stripped[1:].split()[0].lower()] = number
            parsed.label_lines.add(number)
            continue
        p = 0
        while p < len(raw):
            head_start = p
            p, prefixed = _peel(raw, p)
            if p >= len(raw):
                break
            if raw[p] == "(":
                depth += 1
                if depth == 1:
                    blocks += 1
                    block_id = blocks
                p += 1
                continue
            if raw[p] == ")" and depth:
                depth -= 1
                block_id = block_id if depth else None
                p += 1
                continue
            start, quoted = p, False
            is_echo = re.match(r"(?i)ECHO[\s.(:]", raw[p:] + " ") is not None
            while p < len(raw):
                c = raw[p]
                if c == '"':
                    quoted = not quoted
                elif not quoted and c == "^":
                    p += 1
                elif not quoted and c in "&|":
                    break
                elif not quoted and c == ")" and depth:
                    break
                elif not quoted and c == "(" and not is_echo and raw[start:p].strip() == "":
                    break
                p += 1
            text_ = raw[start:p].rstrip()
            if text_:
                parsed.commands.append(Command(
                    number, start, head_start, text_, raw[:p].strip(), depth, block_id,
                    ("block", block_id) if depth else ("line", number), prefixed or depth > 0))
            if p < len(raw) and raw[p] in "&|":
                while p < len(raw) and raw[p] in "&|":
                    p += 1
    return parsed


def _quoted_at(raw: str, pos: int) -> bool:
    quoted = False
    for c in raw[:pos]:
        if c == '"':
            quoted = not quoted
    return quoted


def expansions(parsed: Parsed) -> list[Expansion]:
    found = []
    for cmd in parsed.commands:
        raw = parsed.lines[cmd.line - 1]
        segment_end = cmd.start + len(cmd.text)
        for m in EXPANSION.finditer(raw, cmd.head_start, segment_end):
            if m.group(0).startswith("%%"):
                continue
            is_arg = m.group(2) is not None
            name = m.group(2) if is_arg else m.group(3)
            found.append(Expansion(cmd.line, m.start(), name, is_arg, _quoted_at(raw, m.start()), cmd))
    return found


def _sections(parsed: Parsed) -> dict[int, str]:
    """Line -> name of the subroutine it belongs to ('' = main body up to :finish, 'finish' after it)."""
    called = {m.lower() for cmd in parsed.commands for m in re.findall(r"(?i)^CALL\s+:(\w+)", cmd.text)}
    owner, current = {}, ""
    for number in range(1, len(parsed.lines) + 1):
        if number in parsed.label_lines:
            label = parsed.lines[number - 1].strip()[1:].split()[0].lower()
            if label == "finish" or label in called:
                current = label
        owner[number] = current
    return owner


def safe_variables(parsed: Parsed) -> set[str]:
    """Variables whose every assignment in this file is a plain literal, a number or ERRORLEVEL, set at
    least once unconditionally and never left to a value from outside (``IF NOT DEFINED X SET "X=..."``)."""
    assignments: dict[str, list[tuple[Command, str, bool]]] = {}
    for cmd in parsed.commands:
        m = SET_TARGET.match(cmd.text)
        if not m or m.group(2).startswith("%"):
            continue
        value = cmd.text[m.end():].rstrip('"').strip()
        assignments.setdefault(m.group(2).upper(), []).append((cmd, value, bool(m.group(1))))
    safe = {"ERRORLEVEL"}
    for name, sets in assignments.items():
        plain = all(arith or re.fullmatch(r"[\w.+-]*|%ERRORLEVEL%|!ERRORLEVEL!", value, re.I)
                    for _, value, arith in sets)
        guarded = any(re.match(rf"(?i)IF\s+NOT\s+DEFINED\s+{name}\s", cmd.head) for cmd, _, _ in sets)
        unconditional = any(not cmd.conditional for cmd, _, _ in sets)
        if plain and not guarded and unconditional:
            safe.add(name)
    return safe


def _calls_pass_names(parsed: Parsed, label: str) -> bool:
    calls = [m for cmd in parsed.commands for m in re.finditer(rf"(?i)^CALL\s+:{label}\b(.*)$", cmd.text)]
    return bool(calls) and all(re.fullmatch(r"(\s+(\w+|%~?[1-9]))*\s*", m.group(1)) for m in calls)


def lint_bat(text: str, *, whole_line_ok: frozenset[str] = frozenset()) -> list[str]:
    """Problems in a launcher .bat, one string each (``kind: line N: ...``); [] when it is clean.

    ``whole_line_ok``: variables that may be expanded unquoted as a command of their own (the launcher's
    ``%CMD%``, whose content the argument-splitting tests check)."""
    parsed = parse_bat(text)
    problems: list[str] = []
    owner = _sections(parsed)
    safe = safe_variables(parsed)
    delayed = re.search(r"(?i)EnableDelayedExpansion", text) is not None

    # stale reads: %VAR% after VAR was set in the same block or on the same line
    set_in_unit: dict[tuple, list[tuple[int, str]]] = {}
    for index, cmd in enumerate(parsed.commands):
        m = SET_TARGET.match(cmd.text)
        if m and not m.group(2).startswith("%"):
            set_in_unit.setdefault(cmd.unit, []).append((index, m.group(2).upper()))
    positions = {id(cmd): i for i, cmd in enumerate(parsed.commands)}
    for exp in expansions(parsed):
        if exp.is_arg:
            continue
        index = positions[id(exp.command)]
        for set_index, name in set_in_unit.get(exp.command.unit, []):
            if name == exp.name.upper() and set_index < index:
                set_line = parsed.commands[set_index].line
                problems.append(f"stale: line {exp.line}: %{exp.name}% is read in the block or line where it "
                                f"is set (line {set_line}); it expands to the old value")

    # unquoted percent expansions of values that can hold anything
    for exp in expansions(parsed):
        if exp.quoted:
            continue
        cmd = exp.command
        if exp.is_arg:
            section = owner.get(exp.line, "")
            if section not in ("", "finish") and _calls_pass_names(parsed, section):
                continue
            problems.append(f"unquoted: line {exp.line}: argument %{exp.name} outside quotes")
            continue
        name = exp.name.upper()
        if name in safe:
            continue
        if name in whole_line_ok and re.fullmatch(rf"(?i)%{name}%", cmd.text.strip()):
            continue
        where = "in ECHO" if re.match(r"(?i)ECHO", cmd.text) else "in a command"
        if cmd.depth:
            where += " inside a parenthesised block"
        problems.append(f"unquoted: line {exp.line}: %{exp.name}% {where} outside quotes (a space, & or ) in "
                        f"it, or an empty value, breaks the line); quote it or use !{exp.name}!")

    if not delayed:
        for cmd in parsed.commands:
            if re.search(r"![A-Za-z_]\w*[!:]", cmd.text):
                problems.append(f"delayed: line {cmd.line}: !VAR! without EnableDelayedExpansion")

    problems += _lint_exits(parsed, owner)
    problems += _lint_command_paths(parsed)
    return problems


def _is_subroutine_start(parsed: Parsed, number: int, owner: dict[int, str]) -> bool:
    return number in parsed.label_lines and owner[number] not in ("", "finish") and \
        parsed.lines[number - 1].strip()[1:].split()[0].lower() == owner[number]


def _lint_exits(parsed: Parsed, owner: dict[int, str]) -> list[str]:
    problems = []
    finish = parsed.labels.get("finish")
    if finish is None:
        return ["exit: no :finish section: every way out must pass the pause logic"]
    finish_cmds = [c for c in parsed.commands if owner[c.line] == "finish"]
    texts = [c.head for c in finish_cmds]
    if not any(re.search(r"(?i)CALL\s+:pause_if_asked\b", t) for t in texts):
        problems.append("exit: :finish does not CALL :pause_if_asked")
    for cmd in parsed.commands:
        if re.match(r"(?i)exit(\s|$)", cmd.text):
            ok = owner[cmd.line] == "finish" and re.fullmatch(r"(?i)endlocal\s*&\s*exit\s+/b\s+%EXIT_CODE%",
                                                                parsed.lines[cmd.line - 1].strip())
            if not ok:
                problems.append(f"exit: line {cmd.line}: leaves the file without the pause logic "
                                f"(SET EXIT_CODE and GOTO :finish instead)")
        if re.match(r"(?i)GOTO\s+:?EOF\b", cmd.text) and owner[cmd.line] in ("", "finish"):
            problems.append(f"exit: line {cmd.line}: GOTO :EOF in the main body skips the pause logic")
        if re.fullmatch(r"(?i)PAUSE", cmd.text.strip()) and owner[cmd.line] != "pause_if_asked":
            problems.append(f"exit: line {cmd.line}: PAUSE outside :pause_if_asked")
    # no falling through into a subroutine or into :finish's subroutines
    for number in sorted(parsed.label_lines):
        if not _is_subroutine_start(parsed, number, owner):
            continue
        before = [c for c in parsed.commands if c.line < number]
        last = before[-1] if before else None
        if last is None or not (re.match(r"(?i)GOTO\s", last.text) and not last.conditional
                                or re.search(r"(?i)exit\s+/b", last.head)):
            problems.append(f"exit: line {number}: the code above falls through into a subroutine")
    pause = [parsed.lines[c.line - 1] for c in parsed.commands if owner[c.line] == "pause_if_asked"]
    body = "\n".join(pause)
    if not pause:
        problems.append("exit: no :pause_if_asked subroutine")
    elif not ('"!PAUSE_AT_END!"==""' in body and "CMDCMDLINE" in body and "%THIS_FILE%" in body
              and "/c " in body and "DEFINED CI" in body):
        problems.append("exit: :pause_if_asked must default PAUSE_AT_END itself and, for auto, look for /c "
                        "and this file in %CMDCMDLINE% (and skip under CI)")
    return problems


PATH_FLAG = re.compile(r"--\w*(?:_path|_dir|checkpoint|_weights)$")
CMD_LINE = re.compile(r'^(?:IF (?P<cond>.+?) )?SET "CMD=!CMD! (?P<flag>--\w+)(?: (?P<value>.*))?"$')


def _lint_command_paths(parsed: Parsed) -> list[str]:
    problems = []
    flag_lines = [(n, CMD_LINE.match(line.strip())) for n, line in enumerate(parsed.lines, 1)]
    flag_lines = [(n, m) for n, m in flag_lines if m]
    if not flag_lines:
        return problems
    first = flag_lines[0][0]
    prepared: dict[str, set[str]] = {}
    for line in parsed.lines[:first - 1]:
        m = re.search(r"(?i)CALL :(normalise_path|strip_trailing_backslashes) (\w+)\s*$", line.strip())
        if m:
            prepared.setdefault(m.group(2).upper(), set()).add(m.group(1).lower())
    for number, m in flag_lines:
        value = m["value"] or ""
        if PATH_FLAG.search(m["flag"]) and not re.fullmatch(r'"!\w+!"', value):
            problems.append(f"path: line {number}: {m['flag']} must be passed as \"!VAR!\"")
        for var in re.findall(r'"!(\w+)!"', value):
            done = prepared.get(var.upper(), set())
            needed = "normalise_path" if PATH_FLAG.search(m["flag"]) else None
            if needed and needed not in done or not done:
                what = ":normalise_path" if needed else ":normalise_path or :strip_trailing_backslashes"
                problems.append(f"path: line {number}: \"!{var}!\" is quoted but never passed through "
                                f"{what}: a trailing backslash would escape the closing quote")
    return problems


def lint_setup(text: str, *, windows: bool) -> list[str]:
    """GPU detection by nvidia-smi and nvcc, and the switch between CPU and CUDA builds of torch."""
    comment = re.compile(r"(?i)^\s*(REM\b|::|#)")
    code = [line for line in text.replace("\r\n", "\n").split("\n") if not comment.match(line)]
    joined = "\n".join(code)
    problems = []
    if not re.search(r"nvidia-smi", joined):
        problems.append("gpu: nvidia-smi is never run: a PC with the driver but no toolkit gets CPU torch")
    if not re.search(r"nvcc", joined):
        problems.append("gpu: no nvcc fallback")
    if not re.search(r"CUDA Version", joined):
        problems.append("gpu: the driver's CUDA version is not read")
    install = [i for i, line in enumerate(code) if re.search(r"pip install .*torch==", line)]
    if not install:
        return problems + ["torch: no pip install of torch=="]
    forced = any("--force-reinstall" in code[i] for i in install)
    uninstall = [i for i, line in enumerate(code) if re.search(r"pip uninstall -y torch torchvision", line)]
    check = [i for i, line in enumerate(code) if "torch.version.cuda" in line]
    if not forced and not (uninstall and check and max(check) < min(uninstall) < min(install)):
        problems.append("torch: an installed build of the same version (2.14.1+cpu) is never replaced: check "
                        "the installed build (torch.version.cuda) and uninstall it before pip install")
    if windows and not re.search(r"(?i)pushd", joined):
        problems.append("folder: cd /d fails on a network share; use pushd")
    return problems
