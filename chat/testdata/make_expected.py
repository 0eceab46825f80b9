#!/usr/bin/python3
"""Regenerates expected.json: what transformers' apply_chat_template renders.

Run from anywhere with Debian's jinja2 (apt-get install -y python3-jinja2):

    /usr/bin/python3 chat/testdata/make_expected.py

The Jinja environment mirrors transformers' utils/chat_template_utils.py
(_compile_jinja_template, read via the code search in Nov 2026):
  * jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
    extensions=[jinja2.ext.loopcontrols]); transformers also adds its AssistantTracker
    extension, which only matters for {% generation %} blocks (none of these templates).
  * filters["tojson"] = json.dumps(x, ensure_ascii=False, indent=indent,
    separators=separators, sort_keys=sort_keys) with None defaults, i.e. Python's own
    separators (", ", ": ") or ("," , ": ") when indented.
  * globals["raise_exception"] raises TemplateError; globals["strftime_now"] formats
    datetime.now() -- here a fixed clock so the output is reproducible.
  * render(messages=..., tools=<list or None>, documents=None,
    add_generation_prompt=..., **special_tokens_map, **kwargs), as render_jinja_template
    does; special tokens that are None are absent from special_tokens_map.
Not mirrored: the newest transformers' escaping of special tokens found inside user
content (a tokenize-time guard, not part of the template language).

Tool-call messages are dicts {"type": "function", "function": {"name", "arguments"}} and
a "reasoning_content" key is present only where a conversation sets it; Go's Message
conversion produces exactly the same dicts (see chat.go).
"""
import datetime
import json
import os

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "..", "shared", "data", "tokenizers")
FIXED_NOW = datetime.datetime(2026, 11, 25, 0, 2, 3)


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return FIXED_NOW.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


ENV = make_env()


def render(source, ctx):
    try:
        return {"output": ENV.from_string(source).render(**ctx)}
    except Exception as e:  # the Go side must fail too; the message is informative only
        return {"error": type(e).__name__ + ": " + str(e)}


# Chat templates: (name, file or tokenizer_config dir, special tokens as in special_tokens_map).
TEMPLATES = [
    ("qwen2.5", "chat_templates/Qwen-Qwen2.5-7B-Instruct.jinja", {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}),
    ("qwen3", "chat_templates/Qwen-Qwen3-0.6B.jinja", {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}),
    ("qwq", "chat_templates/Qwen-QwQ-32B.jinja", {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}),
    ("r1-distill", "chat_templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
     {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"}),
    ("llama3.1", "chat_templates/meta-llama-Llama-3.1-8B-Instruct.jinja",
     {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}),
    # tokenizer_config.json files: template and tokens both come from the file.
    ("cfg-qwen3", "qwen3", None),
    ("cfg-llama3", "llama3", None),
    ("cfg-deepseek-v3", "deepseek_v3", None),
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the \"current\" weather in a city — in °C.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. 'Zürich'"},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7.5},
            },
            "required": ["city"],
        },
    },
}

THINK = "<think>\nThe user wants 2+2.\nThat is 4.\n</think>\n\nThe answer is **4**."

CONVERSATIONS = [
    {"name": "single_user", "messages": [{"role": "user", "content": "What is 2+2?"}]},
    {"name": "system_user", "messages": [
        {"role": "system", "content": "You are a careful math tutor."},
        {"role": "user", "content": "What is 2+2?"}]},
    {"name": "multi_turn", "messages": [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."}]},
    {"name": "multi_turn_system", "messages": [
        {"role": "system", "content": "  Be brief.\n"},
        {"role": "user", "content": "Name a prime."},
        {"role": "assistant", "content": "7"},
        {"role": "user", "content": "Another one."},
        {"role": "assistant", "content": "11"}]},
    {"name": "think_in_history", "messages": [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": THINK},
        {"role": "user", "content": "And 3+3?"}]},
    {"name": "think_last", "messages": [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": THINK}]},
    {"name": "reasoning_content", "messages": [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "\n\nIt is 4.", "reasoning_content": "\nAdd two and two.\n"},
        {"role": "user", "content": "Sure?"},
        {"role": "assistant", "content": "Yes.", "reasoning_content": "Double-check: 4."}]},
    {"name": "unicode", "messages": [
        {"role": "system", "content": "Réponds en français. 日本語も可。"},
        {"role": "user", "content": "Привет, мир! 🙂 naïve café ß ∑ \u2028 end"},
        {"role": "assistant", "content": "Bonjour ! 👋"},
        {"role": "user", "content": "¿Qué tal?"}]},
    {"name": "quotes_newlines", "messages": [
        {"role": "user", "content": "He said \"hi\"\n\tand 'left'\\ with a backslash\r\nand {{ braces }} {% raw %}"},
        {"role": "assistant", "content": "  padded  \n\n"},
        {"role": "user", "content": "\n"}]},
    {"name": "enable_thinking_false", "enable_thinking": False, "messages": [
        {"role": "user", "content": "Quick: 5*5?"}]},
    {"name": "enable_thinking_true", "enable_thinking": True, "messages": [
        {"role": "user", "content": "Quick: 5*5?"}]},
    {"name": "tools", "tools": [WEATHER_TOOL], "messages": [
        {"role": "system", "content": "You can call tools."},
        {"role": "user", "content": "Weather in Zürich?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather",
                                              "arguments": {"city": "Zürich", "unit": "c", "days": 2}}}]},
        {"role": "tool", "content": "{\"temp\": 21.5, \"sky\": \"clear\"}"},
        {"role": "assistant", "content": "It is 21.5 °C and clear."}]},
    {"name": "tool_call_null_content", "tools": [WEATHER_TOOL], "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
        {"role": "tool", "content": "cold"},
        {"role": "assistant", "content": "It is cold."}]},
    {"name": "multi_step_tools", "tools": [WEATHER_TOOL], "messages": [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Compare Paris and Rome."},
        {"role": "assistant", "content": "<think>\nNeed Paris first.\n</think>\n\n", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "sunny"},
        {"role": "assistant", "content": "Now Rome.", "reasoning_content": "Paris done.", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]},
        {"role": "tool", "content": "rainy"},
        {"role": "user", "content": "<tool_response>late</tool_response>"}]},
    {"name": "llama_builtin_tools", "kwargs": {"builtin_tools": ["code_interpreter", "brave_search"], "date_string": "01 Jan 2026"},
     "messages": [
        {"role": "user", "content": "Search the news."},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "brave_search", "arguments": {"query": "news", "count": "3"}}}]},
        {"role": "ipython", "content": "headlines"}]},
    {"name": "two_tool_calls", "tools": [WEATHER_TOOL], "messages": [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}}]},
        {"role": "tool", "content": "sunny"},
        {"role": "tool", "content": "rainy"}]},
]

# Small templates that pin down single language features; context is plain JSON.
SNIPPETS = [
    ("trim_lstrip", "a\n  {% if x %}\n    yes\n  {% endif %}\nb\n", {"x": True}),
    ("minus_strip", "a  \n {{- x -}}  \n b {%- if true %} c {% endif -%}\n d", {"x": 1}),
    ("plus_lstrip", "  {%+ if true %}k{% endif %}\n  {#+ c #}x", {}),
    ("comment_trim", "a {# c #}\n  {#- d -#}  b\n{# e #}\nz", {}),
    ("trailing_newline", "line\n", {}),
    ("crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n", {}),
    ("print_values", "{{ none }}|{{ true }}|{{ 1.0 }}|{{ 1e20 }}|{{ 0.1 + 0.2 }}|{{ [1, 'a', none, true] }}|{{ {'k': \"it's\", 'q': 'say \"x\"'} }}|{{ undefined_var }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 / 2 }}|{{ 2 ** 10 }}|{{ -7 % 3 }}|{{ 'ab' * 3 }}", {}),
    ("tojson_variants", "{{ v | tojson }}\n{{ v | tojson(indent=2) }}\n{{ v | tojson(separators=(',', ':')) }}\n{{ v | tojson(sort_keys=true) }}\n{{ v|tojson(ensure_ascii=true) }}\n{{ [] | tojson(indent=4) }}{{ {} | tojson(indent=4) }}\n{{ 'x' | tojson(indent='\\t') }}{{ v | tojson(indent='--') }}",
     {"v": {"z": [1, 2.5, -0.0, 1e-7, 123456789012345678901234567890], "a": "é\"\\\n\t\u0001\u007f\u2028🙂", "m": None, "t": True, "e": {}, "l": []}}),
    ("string_methods", "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ s.strip('x ') }}|{{ s.split('a') }}|{{ s.split() }}|{{ s.split('a', 1) }}|{{ s.upper() }}|{{ s.lower() }}|{{ s.startswith('  x') }}|{{ s.endswith(('q', 'x  ')) }}|{{ s.replace('a', 'A') }}|{{ s.title() }}|{{ s.capitalize() }}|{{ s.find('b') }}|{{ s.count('a') }}|{{ s[1:4] }}|{{ s[::-1] }}|{{ s[-3:] }}|{{ s[2] }}",
     {"s": "  xa bac ab x  "}),
    ("filters", "{{ l | length }}|{{ l | join(', ') }}|{{ l | first }}|{{ l | last }}|{{ l | reverse | list }}|{{ l | sort | list }}|{{ l | unique | list }}|{{ s | trim }}|{{ s | upper }}|{{ s | lower }}|{{ s | title }}|{{ s | capitalize }}|{{ u | default('d') }}|{{ '' | default('d', true) }}|{{ d | items | list }}|{{ d | dictsort }}|{{ l | map('string') | join('-') }}|{{ l | select('odd') | list }}|{{ l | reject('equalto', 3) | list }}|{{ ms | map(attribute='role') | list }}|{{ ms | selectattr('role', 'equalto', 'user') | list | length }}|{{ ms | rejectattr('role', 'equalto', 'user') | map(attribute='content') | first }}|{{ s | replace('b', 'B') }}|{{ 3.7 | int }}|{{ '42' | int + 1 }}|{{ 2 | float }}|{{ -3 | abs }}|{{ 2.567 | round(2) }}|{{ l | sum }}|{{ l | max }}|{{ l | min }}|{{ 'a\nb' | indent(2) }}|{{ s | wordcount }}|{{ 'abc' | list }}|{{ 1 | string + 'x' }}",
     {"l": [3, 1, 2, 3], "s": "  hello World b ", "d": {"b": 2, "a": 1}, "ms": [{"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"}]}),
    ("tests", "{{ x is defined }}{{ y is defined }}{{ y is undefined }}{{ n is none }}{{ x is not none }}{{ x is string }}{{ 1 is number }}{{ 1 is integer }}{{ 1.5 is float }}{{ d is mapping }}{{ l is iterable }}{{ x is iterable }}{{ l is sequence }}{{ d is sequence }}{{ true is boolean }}{{ false is false }}{{ 0 is false }}{{ true is true }}{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ x is equalto 'a' }}{{ x is eq 'a' }}{{ x is lower }}{{ 'A' is upper }}{{ n is sameas none }}{{ 'a' in x }}{{ 'k' in d }}{{ 5 not in l }}{{ 1 in l }}",
     {"x": "a", "n": None, "d": {"k": 1}, "l": [1, 2]}),
    ("loops", "{% for i in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}{% if i == 2 %}{% continue %}{% endif %}[{{ i }}]{% if i == 3 %}{% break %}{% endif %};{% endfor %}|{% for i in [] %}x{% else %}empty{% endfor %}|{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}|{% for i in l if i > 1 %}{{ i }}{{ loop.index }}{% endfor %}|{% for i in range(3) %}{{ i }}{% endfor %}{% for i in range(1, 10, 3) %}{{ i }}{% endfor %}|{% for c in 'ab' %}{{ c }}{% endfor %}|{% for m in ms %}{{ m.role }}{% endfor %}|{% for k in d %}{{ k }}{% endfor %}",
     {"l": [1, 2, 3, 4], "d": {"y": 1, "x": 2}, "ms": [{"role": "user"}, {"role": "assistant"}]}),
    ("scoping", "{% set a = 1 %}{% for i in [1, 2] %}{% set a = a + i %}{{ a }}{% endfor %}|{{ a }}|{% if true %}{% set a = 5 %}{% endif %}{{ a }}|{% set ns = namespace(n=0, s='') %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}|{% set x, y = 1, 2 %}{{ x }}{{ y }}|{% set blk %}in{{ a }}side{% endset %}{{ blk }}|{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }}{{ greet('Al', punct='?') }}",
     {}),
    ("expressions", "{{ 1 if x else 2 }}{{ 'y' if not x }}|{{ x and 'a' or 'b' }}|{{ (1, 2) }}|{{ [1, 2][-1] }}|{{ {'a': 1}['a'] }}|{{ d.k }}|{{ d['k'] }}|{{ d.get('k') }}|{{ d.get('z', 'dflt') }}|{{ d.keys() | list }}|{{ d.values() | list }}|{{ 'a' ~ 1 ~ none }}|{{ 1 < 2 < 3 }}|{{ 1 == 1.0 }}|{{ 'a' != 'b' }}|{{ [1] + [2] }}|{{ l[1:] }}|{{ l[:-1] }}|{{ l[::2] }}|{{ l[::-1] }}|{{ \"\\u00e9\\x41\\n\" }}|{{ 'a' 'b' }}|{{ -(x|length) }}|{{ (l|length) - 1 }}|{{ l|length - 1 }}|{{ d.missing is defined }}|{{ none.x is defined }}",
     {"x": "xyz", "d": {"k": "v"}, "l": [1, 2, 3, 4]}),
    ("raise", "{{ raise_exception('bad role: ' ~ r) }}", {"r": "bot"}),
    ("concat_type_error", "{{ 'a' + n }}", {"n": None}),
    ("undefined_attr_error", "{{ u.x }}", {}),
    ("strftime", "{{ strftime_now('%Y-%m-%d %H:%M:%S %d %b %Y %B %A %a %j %y %I %p %%') }}", {}),
    ("unknown_filter_error", "{{ 1 | nosuchfilter }}", {}),
    ("raw_block", "a {% raw %}{{ x }} {% if %}{% endraw %} b\n  {%- raw -%}  [{{ y }}]  {%- endraw %}\nc", {}),
    ("macros", "{% macro row(k, v='-', sep=': ') -%}\n{{ k }}{{ sep }}{{ v }}\n{%- endmacro %}{{ row('a') }}|{{ row('b', 2) }}|{{ row('c', sep='=', v=3) }}|{% for m in ms %}{{ row(m.role, m.content) }};{% endfor %}",
     {"ms": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}),
    ("nested_loops", "{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }},{% endfor %}{{ loop.index }};{% endfor %}", {}),
    ("messages_like", "{{ ms[-1].role }}|{{ ms[0]['content'] | trim }}|{{ ms | selectattr('tool_calls', 'defined') | list | length }}|{{ (ms | last).content }}|{{ ms[1:] | map(attribute='role') | join(',') }}|{% if ms[0].role == 'system' %}{% set rest = ms[1:] %}{% else %}{% set rest = ms %}{% endif %}{{ rest | length }}|{{ ms[0].missing | default('none') }}|{{ 'tool_calls' in ms[1] }}|{{ ms[1].tool_calls[0].function.arguments | tojson }}|{{ ms[1].tool_calls | length == 1 }}|{{ ms[1].tool_calls[0].function.arguments | items | list }}",
     {"ms": [{"role": "system", "content": "  sys \n"}, {"role": "assistant", "content": None, "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"b": 1, "a": [1.5, "x"]}}}]}, {"role": "user", "content": "u"}]}),
    ("whitespace_mix", "{%- if true -%}\n\n   A  \n{%- endif -%}\n   B {{- ' C ' -}}   D\n\t{% for i in [1,2] %}\n\t  {{ i }}\n\t{% endfor %}\n{#- c #}E\n{% if false %}\nx{% else %}    y\n{% endif %}", {}),
    ("escapes", "{{ 'tab\\there' }}|{{ \"q\\\"q\" }}|{{ 'a\\\\b' }}|{{ '\\d' }}|{{ '\\u00fc\\U0001F600' }}|{{ 'x' ~ \"\\n\" ~ 'y' }}|{{ 'naïve' | length }}|{{ '日本語'[1] }}|{{ '日本語'[::-1] }}", {}),
    ("tojson_nested", "{{ {'a': (1, 2), 'b': [none, false, 'x'], 'c': {'d': {}}} | tojson(indent=2) }}|{{ 'ümlaut \"quoted\"' | tojson }}|{{ 3 | tojson }}|{{ 2.0 | tojson }}|{{ none | tojson }}", {}),
    ("tests_more", "{{ 'a' is not string }}|{{ x is defined and x }}|{{ y is not defined or y }}|{{ 1 is in [1, 2] }}|{{ 3 is gt 2 }}|{{ ns is mapping }}|{{ none is none }}|{{ [] is sequence }}|{% set ns = namespace(a=1) %}{{ ns.a }}{{ ns.b is defined }}", {"x": 0}),
    ("undefined_filters", "[{{ u | upper }}|{{ u | trim }}|{{ u | length }}|{{ u | join(',') }}|{{ u | list }}|{{ u | default('d') }}|{{ u | string }}|{% for x in u %}x{% endfor %}|{{ u is none }}|{{ u == none }}|{{ not u }}|{% for i in 'abc' %}{{ loop.cycle('o', 'e') }}{% endfor %}]", {}),
    ("undefined_tojson_error", "{{ u | tojson }}", {}),
    ("string_more", "{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split(' ') }}|{{ 'x'.join(['1', '2']) }}|{{ 'hello world'.title() }}|{{ 'they\\'re bill\\'s'.title() }}|{{ 'they\\'re' | title }}|{{ 'aXb'.replace('X', '--') }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith('bc') }}|{{ 'a\\nb\\n'.splitlines() }}|{{ '  \\n'.isspace() }}|{{ '123'.isdigit() }}|{{ 'ab'.upper().lower() }}|{{ 'hello'.rfind('l') }}|{{ 'x y z'.split(None, 1) }}|{{ '</think>\\n\\nok'.split('</think>')[-1].lstrip('\\n') }}", {}),
]


def countdown_prompts():
    """TinyZero's two Countdown prompts (examples/data_preprocess/countdown.py,
    make_prefix) for the first rows of the shared Countdown test split."""
    rows = []
    with open(os.path.join(DATA, "..", "countdown", "test.jsonl"), encoding="utf-8") as f:
        for line in f.readlines()[:4]:
            dp = json.loads(line)
            numbers, target = dp["nums"], dp["target"]
            task = (f"Using the numbers {numbers}, create an equation that equals {target}. You can use basic arithmetic "
                    "operations (+, -, *, /) and each number can only be used once. Show your work in <think> </think> "
                    "tags. And return the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.")
            base = ("A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
                    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
                    f"the answer.\nUser: {task}\nAssistant: Let me solve this step by step.\n<think>")
            qwen = ("<|im_start|>system\nYou are a helpful assistant. You first thinks about the reasoning process in the "
                    "mind and then provides the user with the answer.<|im_end|>\n<|im_start|>user\n " + task +
                    "<|im_end|>\n<|im_start|>assistant\nLet me solve this step by step.\n<think>")
            rows.append({"nums": numbers, "target": target, "countdown-base": base, "countdown-qwen-instruct": qwen})
    return rows


def main():
    out = {"templates": [], "cases": [], "snippets": [], "countdown": countdown_prompts()}
    for name, rel, tokens in TEMPLATES:
        path = os.path.join(DATA, rel)
        if tokens is None:  # a tokenizer_config.json directory
            cfg = json.load(open(os.path.join(path, "tokenizer_config.json"), encoding="utf-8"))
            source = cfg["chat_template"]
            tokens = {}
            for k in ("bos_token", "eos_token", "unk_token", "pad_token"):
                v = cfg.get(k)
                if isinstance(v, dict):
                    v = v.get("content")
                if v is not None:
                    tokens[k] = v
        else:
            source = open(path, encoding="utf-8").read()
        out["templates"].append({"name": name, "path": rel, "tokens": tokens})
        for conv in CONVERSATIONS:
            for agp in (False, True):
                ctx = dict(tokens)
                ctx.update(messages=conv["messages"], tools=conv.get("tools"), documents=None,
                           add_generation_prompt=agp)
                if "enable_thinking" in conv:
                    ctx["enable_thinking"] = conv["enable_thinking"]
                ctx.update(conv.get("kwargs", {}))
                res = {"template": name, "conversation": conv["name"], "add_generation_prompt": agp}
                res.update(render(source, ctx))
                out["cases"].append(res)
    out["conversations"] = CONVERSATIONS
    for name, src, ctx in SNIPPETS:
        res = {"name": name, "template": src, "context": ctx}
        res.update(render(src, ctx))
        out["snippets"].append(res)
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote", len(out["cases"]), "cases and", len(out["snippets"]), "snippets")


if __name__ == "__main__":
    main()
