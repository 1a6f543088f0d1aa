#!/usr/bin/env python3
# Generates the ChatTemplate parity fixtures by rendering through transformers' own chat-template path.
# Pinned: python 3, transformers 5.24, jinja2 3.1.6 (the environment tools/reference/setup-env creates).
# Run: "$(tools/reference/setup-env)" tools/reference/gen_chat_template_fixtures.py
#
# Writes into Tests/ChatTemplateTests/Fixtures/:
#   chat_templates.json  real chat templates (templates/*.jinja) x conversations -> expected text or error
#   constructs.json      small hand-written templates, one construct each -> expected text or error
# strftime_now is pinned to FIXED_DATE (the Swift tests set the same instant, in UTC).
import copy
import datetime
import json
import os
import sys

import jinja2
import transformers
from transformers.utils.chat_template_utils import (
    _alias_reasoning_fields,
    _compile_jinja_template,
    _plain_template_data,
    render_jinja_template,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "Tests", "ChatTemplateTests", "Fixtures")
FIXED_DATE = datetime.datetime(2025, 3, 9, 14, 5, 7)


def pin_clock(source):
    env = _compile_jinja_template(source).environment
    env.globals["strftime_now"] = lambda fmt: FIXED_DATE.strftime(fmt)


def outcome(fn):
    """Runs fn; returns {"expected": text} or {"error": message, "raised": bool}."""
    try:
        return {"expected": fn()}
    except jinja2.exceptions.TemplateError as e:
        # raise_exception raises exactly TemplateError; jinja's own errors are subclasses
        return {"error": str(e), "raised": type(e) is jinja2.exceptions.TemplateError}
    except Exception as e:  # TypeError, ValueError, ... from inside the template
        return {"error": f"{type(e).__name__}: {e}", "raised": False}


# MARK: - Conversations

SYSTEM = "You are a concise assistant."
TRICKY = "He said \"hi\" & 'bye'\nSecond line\twith a tab — café ☕ 日本語 🤖 and a \\ backslash"
CODE_REPLY = "  Sure:\n\n```python\nprint('x')\n```  "

CONVERSATIONS = {
    "single_user": [{"role": "user", "content": "Hello!"}],
    "system_user": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "What is 2+2?"}],
    "multi_turn": [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "system_multi_tricky": [
        {"role": "system", "content": "  " + SYSTEM + "\n"},
        {"role": "user", "content": TRICKY},
        {"role": "assistant", "content": CODE_REPLY},
        {"role": "user", "content": "  thanks!  "},
    ],
    "full_dialog": [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
    ],
    "not_alternating": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
    ],
}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. \"Paris\" or 'Zürich'"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "default": 1.5e-7},
            },
            "required": ["city"],
        },
        "return": {"type": "number", "description": "Temperature"},
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}

TOOL_DIALOG = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "tool_calls": [
        {"id": "call0abc9", "type": "function",
         "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius", "lat": 48.8566, "ok": True}}}
    ]},
    {"role": "tool", "tool_call_id": "call0abc9", "content": "{\"temperature\": 21.5, \"sky\": \"clear\"}"},
    {"role": "assistant", "content": "It is 21.5 °C and clear in Paris."},
    {"role": "user", "content": "And in Zürich?"},
]

# (template, case name, messages, add_generation_prompt, tools, extra kwargs)
def cases():
    plain = ["single_user", "system_user", "multi_turn", "system_multi_tricky", "full_dialog", "not_alternating"]
    for template in ["smollm2", "llama3", "llama3_1", "llama3_2", "qwen2_5", "qwen3", "mistral_v0_1", "mistral_v0_3",
                     "gemma", "gemma3", "zephyr", "phi3", "llama2"]:
        for conv in plain:
            for agp in (True, False):
                yield template, f"{conv}/gp={agp}", CONVERSATIONS[conv], agp, None, {}

    # Llama 3.1: tools in the first user message (default), in the system message, builtin tools, errors
    yield "llama3_1", "tools_in_user", TOOL_DIALOG, True, [WEATHER_TOOL], {}
    yield "llama3_1", "tools_in_system", TOOL_DIALOG, True, [WEATHER_TOOL, SEARCH_TOOL], {"tools_in_user_message": False}
    yield "llama3_1", "date_string", CONVERSATIONS["system_user"], True, None, {"date_string": "01 Jan 2030"}
    yield "llama3_1", "builtin_tools", [
        {"role": "user", "content": "Search for Swift 6."},
        {"role": "assistant", "tool_calls": [{"type": "function", "function": {
            "name": "brave_search", "arguments": {"query": "Swift 6 \"typed throws\""}}}]},
        {"role": "ipython", "content": {"results": ["a", "b"], "count": 2}},
    ], True, None, {"builtin_tools": ["brave_search", "code_interpreter", "wolfram_alpha"]}
    yield "llama3_1", "error_two_tool_calls", [
        {"role": "user", "content": "Two calls"},
        {"role": "assistant", "tool_calls": [
            {"type": "function", "function": {"name": "a", "arguments": {}}},
            {"type": "function", "function": {"name": "b", "arguments": {}}}]},
    ], False, None, {}
    yield "llama3_1", "error_tools_without_user", [{"role": "system", "content": SYSTEM}], True, [WEATHER_TOOL], {}
    yield "llama3_2", "strftime_now_tools", TOOL_DIALOG, True, [SEARCH_TOOL], {}
    yield "llama3_2", "custom_tools_in_system", CONVERSATIONS["multi_turn"], True, None, {
        "custom_tools": [WEATHER_TOOL], "tools_in_user_message": False}

    # Qwen 2.5 and 3: tools branch, tool calls with and without the function wrapper, tool responses
    qwen_dialog = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"name": "get_weather", "arguments": {"city": "Rome", "unit": "celsius"}}]},
        {"role": "tool", "content": "{\"temperature\": 21}"},
        {"role": "tool", "content": "{\"temperature\": 25}"},
        {"role": "assistant", "content": "Paris 21, Rome 25."},
    ]
    yield "qwen2_5", "tools_no_system", qwen_dialog, True, [WEATHER_TOOL], {}
    yield "qwen2_5", "tools_with_system", [{"role": "system", "content": SYSTEM}] + qwen_dialog, False, [WEATHER_TOOL, SEARCH_TOOL], {}
    yield "qwen3", "tools", [{"role": "system", "content": SYSTEM}] + qwen_dialog, True, [WEATHER_TOOL], {}
    yield "qwen3", "thinking_history", [
        {"role": "user", "content": "What is 17*3?"},
        {"role": "assistant", "content": "<think>\n17*3 = 51\n</think>\n\n51"},
        {"role": "user", "content": "And 18*3?"},
        {"role": "assistant", "content": "54", "reasoning_content": "18*3 is 54."},
    ], False, None, {}
    yield "qwen3", "enable_thinking_false", CONVERSATIONS["multi_turn"], True, None, {"enable_thinking": False}
    yield "qwen3", "tool_response_last_query", [
        {"role": "user", "content": "Look it up"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "search", "arguments": "{\"query\": \"x\"}"}}]},
        {"role": "user", "content": "<tool_response>\nfound\n</tool_response>"},
    ], True, [SEARCH_TOOL], {}

    # Mistral v0.3: tools, tool calls with 9-character ids, tool results, errors
    mistral_dialog = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "tool_calls": [{"id": "abcDEF123", "type": "function",
                                              "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "tool_call_id": "abcDEF123", "content": "21.5"},
        {"role": "assistant", "content": " It is 21.5 degrees. "},
        {"role": "user", "content": "Thanks"},
    ]
    yield "mistral_v0_3", "tools", mistral_dialog, False, [WEATHER_TOOL, SEARCH_TOOL], {}
    bad_id = [dict(m) for m in mistral_dialog]
    bad_id[2] = {"role": "assistant", "tool_calls": [{"id": "short", "type": "function",
                                                      "function": {"name": "get_weather", "arguments": {}}}]}
    yield "mistral_v0_3", "error_bad_tool_call_id", bad_id, False, None, {}
    yield "mistral_v0_1", "error_unknown_role", [
        {"role": "user", "content": "hi"}, {"role": "tool", "content": "x"}], False, None, {}

    # Gemma 3: list content with images and text
    yield "gemma3", "list_content", [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "  What is this?  "}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
        {"role": "user", "content": "Thanks"},
    ], True, None, {}
    yield "gemma3", "error_invalid_content", [{"role": "user", "content": 42}], True, None, {}


def render_case(template, messages, agp, tools, extra):
    source = open(os.path.join(FIXTURES, "templates", template + ".jinja"), encoding="utf-8").read()
    pin_clock(source)
    kwargs = {"bos_token": BOS[template], "eos_token": EOS[template], **extra}

    def run():
        rendered, _ = render_jinja_template(
            conversations=[messages], tools=tools, chat_template=source, add_generation_prompt=agp, **kwargs)
        return rendered[0]

    # the variables the template sees, exactly as render_jinja_template builds them
    context = {
        "messages": _alias_reasoning_fields(_plain_template_data(messages)),
        "tools": tools,
        "documents": None,
        "add_generation_prompt": agp,
        **kwargs,
    }
    return context, outcome(run)


BOS = {"smollm2": "<|im_start|>", "llama3": "<|begin_of_text|>", "llama3_1": "<|begin_of_text|>",
       "llama3_2": "<|begin_of_text|>", "qwen2_5": None, "qwen3": None, "mistral_v0_1": "<s>",
       "mistral_v0_3": "<s>", "gemma": "<bos>", "gemma3": "<bos>", "zephyr": "<s>", "phi3": "<s>", "llama2": "<s>"}
EOS = {"smollm2": "<|im_end|>", "llama3": "<|eot_id|>", "llama3_1": "<|eot_id|>", "llama3_2": "<|eot_id|>",
       "qwen2_5": "<|im_end|>", "qwen3": "<|im_end|>", "mistral_v0_1": "</s>", "mistral_v0_3": "</s>",
       "gemma": "<eos>", "gemma3": "<eos>", "zephyr": "</s>", "phi3": "<|endoftext|>", "llama2": "</s>"}


def chat_template_fixture():
    out = []
    for template, name, messages, agp, tools, extra in cases():
        context, result = render_case(template, messages, agp, tools, extra)
        if BOS[template] is None:
            del context["bos_token"]
        simple = tools is None and not extra and all(
            set(m) == {"role", "content"} and isinstance(m["content"], str) for m in messages)
        out.append({"template": template, "name": name, "simple": simple, "context": context, **result})
    return out


# MARK: - Constructs (small templates, one feature each)

CONSTRUCTS = [
    # whitespace control, trim_blocks, lstrip_blocks, comments, raw
    "{% if true %}\n  yes\n{% endif %}\n",
    "  {% if true %}\n    a\n  {% endif %}\nb",
    "x  {%- if true -%}  y  {%- endif -%}  z",
    "a\n  {{- 'b' -}}\n  c",
    "{{ 'a' }}\n{{ 'b' }}\n",
    "line1\n    {# comment #}\nline2\n  {#- c -#}  line3",
    "{% raw %}{{ not rendered }}{% endraw %}\n{%+ if true %}+kept{% endif %}",
    "  {%+ if true %}x{% endif %}",
    "a\r\nb\rc\n{% if true %}\r\nd{% endif %}\n\n",
    "{{ {'a': {'b': 1}} }}",
    # literals and printing
    "{{ 'it''s' }}|{{ \"it's\" }}|{{ ['it\\'s', 'a\"b', 'x\\ny'] }}",
    "{{ '\\u00e9\\x41\\101\\d\\t|' }}",
    "{{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 10/4 }} {{ 4/2 }} {{ 7//2 }} {{ -7//2 }} {{ -7 % 3 }} {{ 2**10 }} {{ 2**-1 }}",
    "{{ 1.0 }}{{ 100.0 }}{{ 1e100 }}{{ 1.5e-7 }}{{ 0.1 + 0.2 }}{{ -0.0 }}{{ 1/3 }} {{ 1_000 }} {{ 0x1F }} {{ 1.5e3 }}",
    "{{ [1, 'a', none, true, 1.5, {'k': (1,)}] }} {{ (1, 2) }}{{ (1,) }}{{ () }} {{ None }}{{ True }}",
    "{{ ['a\\tb', 'é', '\\u200b', '\\x7f', \"'\", '\"', '\\\\'] }}",
    "{{ 'a' ~ none ~ 1.0 ~ true ~ [1] ~ undefined_name }}",
    # variables, attributes, items, slices
    "{{ d.a }}|{{ d['a'] }}|{{ d.missing }}|{{ d.get('a') }}|{{ l[0] }}{{ l[-1] }}{{ l[5] }}|{{ l.0 }}",
    "{{ 'abc'[::-1] }}{{ 'abcdef'[1:4] }}{{ l[1:] }}{{ l[:-1] }}{{ l[::2] }}{{ 'abc'[0:10:2] }}{{ l[-2:] }}{{ l[::-2] }}",
    "{{ d.missing.x }}",
    "{{ x.y }}",
    "{{ x + 1 }}",
    "{{ none.x }}|{{ 'abc'.foo }}|{{ d.items is defined }}",
    # operators
    "{{ 1 + 2 * 3 - 4 / 2 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 7 % 3 }} {{ -7.5 // 2 }} {{ 7.5 % -2 }}",
    "{{ 'a' * 3 }}{{ [1] * 2 }}{{ 3 * 'b' }}{{ [1] + [2] }}{{ 'x' + 'y' }}{{ true + 1 }}",
    "{{ 1 + 'a' }}",
    "{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 1 == 1.0 }}{{ [1, 2] == [1, 2.0] }}{{ 'a' < 'b' }}{{ [1, 2] < [1, 3] }}{{ 2 >= 2 }}{{ 1 != 2 }}",
    "{{ 1 in [1.0] }}{{ 'a' in {'a': 1} }}{{ 'bc' in 'abc' }}{{ 'z' not in 'abc' }}{{ 3 not in [1] }}",
    "{{ true and 'x' }}|{{ false or 'y' }}|{{ 0 or '' }}|{{ not none }}|{{ not true == false }}|{{ none and 1 }}",
    "{{ 'x' if false }}|{{ ('x' if false) is defined }}|{{ 1 if true else 2 if false }}|{{ 'a' if 0 else 'b' }}",
    "{{ 'a' < 1 }}",
    # tests
    "{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ true is number }}{{ true is integer }}{{ 1.0 is float }}{{ true is boolean }}",
    "{{ d is mapping }}{{ l is sequence }}{{ 'a' is sequence }}{{ 1 is iterable }}{{ x is iterable }}{{ d is iterable }}",
    "{{ 5 is divisibleby 5 }}{{ 4 is odd }}{{ 4 is even }}{{ none is sameas none }}{{ true is true }}{{ 1 is true }}{{ false is false }}",
    "{{ 3 is in [1,3] }}{{ 3 is eq 3 }}{{ 3 is ge 4 }}{{ 3 is equalto 3 }}{{ 2 is lt 3 }}{{ 'ab' is lower }}{{ 'AB' is upper }}{{ 3 is not none }}",
    "{{ 'upper' is filter }}{{ 'wordwrap' is test }}{{ range is callable }}",
    # filters
    "{{ '  hi  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'Hello' | upper }}{{ 'Hello' | lower }}|{{ 'hello world' | title }}|{{ \"they're\" | title }}|{{ 'aBC' | capitalize }}",
    "{{ 'a-b-a' | replace('a', 'c') }}{{ 'aaa' | replace('a', 'b', 2) }}{{ 'ab' | replace('', '-') }}",
    "{{ l | length }}{{ 'héllo' | length }}{{ d | count }}{{ x | length }}",
    "{{ l | first }}{{ l | last }}{{ 'abc' | first }}{{ [] | first }}|{{ {'k': 1} | first }}",
    "{{ x | default('d') }}{{ '' | default('d') }}{{ '' | default('d', true) }}{{ none | default('d') }}{{ x | d('e') }}",
    "{{ 42.5 | int }}{{ '42.7' | int }}{{ 'x' | int }}{{ '0x1A' | int(base=16) }}{{ '3' | float }}{{ true | int }}{{ ' 12 ' | int }}{{ 'x' | float(1.5) }}",
    "{{ 1 | string }}{{ none | string }}{{ [1] | string }}{{ 1.5 | string ~ '!' }}",
    "{{ 'abc' | list }}{{ {'a': 1, 'b': 2} | list }}{{ (1, 2) | list }}",
    "{% for k, v in {'b': 1, 'a': 2} | items %}{{ k }}={{ v }};{% endfor %}{{ {'b': 1, 'a': 2} | dictsort }}",
    "{{ ['a','b'] | join(', ') }}{{ [1, none] | join }}{{ [{'n': 'x'}, {'n': 'y'}] | join('-', attribute='n') }}",
    "{{ [3, 1, 2] | sort }}{{ ['B', 'a', 'C'] | sort }}{{ ['B', 'a', 'C'] | sort(case_sensitive=true) }}{{ [3, 1, 2] | sort(reverse=true) }}",
    "{{ [{'n': 2, 'm': 'b'}, {'n': 1, 'm': 'a'}, {'n': 2, 'm': 'a'}] | sort(attribute='n,m') | map(attribute='m') | join }}",
    "{{ ['a', 'A', 'b', 'a'] | unique | list }}{{ ['a', 'A'] | unique(case_sensitive=true) | list }}",
    "{{ [3, 1, 2] | reverse | list }}{{ 'abc' | reverse }}{{ [1, 2] | reverse | join }}",
    "{{ 2.5 | round }}{{ 3.5 | round }}{{ 2.675 | round(2) }}{{ 3 | round }}{{ 2.1 | round(0, 'ceil') }}{{ 2.9 | round(method='floor') }}{{ -1.5 | round }}",
    "{{ -3 | abs }}{{ -3.5 | abs }}{{ [1, 2, 3] | sum }}{{ [{'v': 1}, {'v': 2}] | sum(attribute='v') }}{{ [3, 1] | min }}{{ ['b', 'A'] | max }}",
    "{{ [{'a': 1}, {'a': 2}, {}] | map(attribute='a') | list }}{{ [{'a': 1}, {}] | map(attribute='a', default=0) | list }}{{ ['a', 'b'] | map('upper') | join }}",
    "{{ [1, 0, 2, none] | select | list }}{{ [1, 2, 3, 4] | select('odd') | list }}{{ [1, 2, 3] | reject('equalto', 2) | list }}",
    "{{ [{'r': 'u'}, {'r': 's'}] | selectattr('r', 'equalto', 'u') | list }}{{ [{'r': 'u'}, {}] | rejectattr('r') | list }}{{ [{'r': 'u'}, {}] | selectattr('r', 'defined') | list | length }}",
    "{% if [] | select %}always-truthy-generator{% endif %}",
    "{{ [] | select | length }}",
    "{{ {'a': 1, 'b': [1, 2.0, 'é\\n\"'], 'c': none, 'd': true} | tojson }}|{{ 'x</script>' | tojson }}",
    "{{ {'a': {}, 'b': [], 'c': [1, {'d': 'e'}]} | tojson(indent=2) }}|{{ [1, 2] | tojson(indent=0) }}",
    "{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}{{ {'b': 1} | tojson(separators=(',', ':')) }}{{ 'é' | tojson(ensure_ascii=true) }}{{ [1] | tojson(indent='\\t') }}",
    "{{ x | tojson }}",
    "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'a\\nb' | indent('> ') }}",
    "{{ '<a href=\"x\">&\\'</a>' | escape }}{{ 'x' | safe }}{{ 'ab' | center(6) }}|{{ 'one two  three' | wordcount }}",
    "{{ 'hello world foo bar' | truncate(11) }}|{{ 'hello world foo bar' | truncate(11, true) }}|{{ 'short' | truncate(3, leeway=5) }}",
    "{{ '%s-%d-%.2f|%5s|%-4d|' | format('a', 3, 2.5, 'b', 7) }}{{ '%s' % 'x' }}{{ '%(a)s' % {'a': 1} }}",
    "{{ [1, 2, 3, 4, 5] | batch(2) | list }}{{ [1, 2, 3] | batch(2, 0) | list }}",
    "{{ d | attr('items') is defined }}{{ d | attr('a') is defined }}",
    # string methods
    "{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  a'.lstrip() }}|{{ 'a\\n\\n'.rstrip('\\n') }}|{{ 'abc'.upper() }}{{ 'ABC'.lower() }}|{{ 'hello world'.title() }}|{{ 'ß'.upper() }}",
    "{{ 'Hello World'.split() }}{{ 'a,b,,c'.split(',') }}{{ 'a b c'.split(' ', 1) }}{{ 'a-b-c'.rsplit('-', 1) }}{{ '  a  b '.split(none, 1) }}{{ '  a  b '.rsplit(none, 1) }}",
    "{{ 'abc'.startswith('ab') }}{{ 'abc'.startswith(('x', 'a')) }}{{ 'abc'.endswith('bc') }}{{ 'abc'.find('c') }}{{ 'abc'.find('z') }}{{ 'aaa'.count('a') }}",
    "{{ '{} and {x} {0}'.format(1, x=2) }}|{{ '{:>5}|{:<4}|{:^5}|{:.2f}|{:05d}'.format('a', 'b', 'c', 3.14159, 42) }}|{{ '{{}}'.format() }}",
    "{{ ', '.join(['a', 'b']) }}|{{ 'a\\nb\\r\\nc'.splitlines() }}|{{ 'abc'.replace('b', 'B') }}|{{ '5'.zfill(3) }}|{{ 'ab'.ljust(4, '.') }}|{{ 'ab'.rjust(4) }}",
    "{{ '12'.isdigit() }}{{ 'ab'.isalpha() }}{{ ' '.isspace() }}{{ 'a1'.isalnum() }}{{ ''.isdigit() }}|{{ 'a=b'.partition('=') }}|{{ 'prefix_x'.removeprefix('prefix_') }}",
    "{{ d.items() | list }}{{ d.keys() | list }}{{ d.values() | list }}{{ d.get('zz', 'dflt') }}{{ d.get('zz') }}",
    # statements: for
    "{% for i in l %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.length }}/{{ loop.first }}/{{ loop.last }};{% endfor %}",
    "{% for i in range(3) %}{{ loop.previtem }},{{ loop.nextitem }};{% endfor %}{% for i in range(4) %}{{ loop.cycle('a', 'b') }}{% endfor %}",
    "{% for x in [1, 1, 2] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}",
    "{% for i in range(10) if i is odd %}{{ i }}{{ '|' if loop.last }}{% endfor %}",
    "{% for i in [] %}x{% else %}empty{% endfor %}{% for i in range(2) if false %}x{% else %}filtered{% endfor %}",
    "{% for a, b in [[1, 2], (3, 4)] %}{{ a }}{{ b }}{% endfor %}{% for k, v in d.items() %}{{ k }}:{{ v }}{% endfor %}",
    "{% for c in 'ab' %}{{ c }}.{% endfor %}{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}{% for i in x %}never{% endfor %}",
    "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}",
    "{% for row in [[1, 2], [3]] %}{% for v in row %}{{ loop.index }}{{ v }}{% endfor %}|{% endfor %}",
    "{% for i in range(2, 10, 3) %}{{ i }}{% endfor %}{% for i in range(5, 0, -2) %}{{ i }}{% endfor %}",
    "{% for a, b in [[1, 2, 3]] %}{% endfor %}",
    "{% for i in none %}{% endfor %}",
    # scoping
    "{% set x = 1 %}{% for i in range(2) %}{% set x = 2 %}{% endfor %}{{ x }}",
    "{% for i in range(3) %}{% if i == 0 %}{% set x = 'a' %}{% endif %}[{{ x }}]{% endfor %}",
    "{% set x = 1 %}{% for i in range(2) %}[{{ x }}]{% set x = 2 %}[{{ x }}]{% endfor %}",
    "{% for i in range(2) %}{% for j in range(2) %}{% set y = i %}{% endfor %}{{ y }}{% endfor %}",
    "{% if true %}{% set z = 3 %}{% endif %}{{ z }}",
    "{% set ns = namespace(a=1, items=[]) %}{% for i in range(3) %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}{{ ns }}",
    "{% set ns = namespace() %}{% set ns.found = false %}{% for m in l %}{% if m == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }}",
    "{% set a, b = [1, 2] %}{{ b }}{{ a }}{% set t = 1, 2 %}{{ t }}",
    "{% set x %}  hello {{ 1 }}  {% endset %}[{{ x }}]{% set y | upper %}abc{% endset %}{{ y }}",
    "{% with a = 1 %}{% set b = 2 %}{{ a }}{% endwith %}[{{ a }}{{ b }}]",
    "{% for x in [] %}{% else %}{% set y = 1 %}{% endfor %}{{ y }}",
    "{% set s = 'x' %}{% set s.attr = 1 %}",
    "{% set messages = messages[1:] %}{{ messages | length }}",
    # macros, call blocks, generation, filter blocks
    "{% macro m(a, b=2) %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }}|{{ m(1, 3) }}|{{ m(b=5, a=4) }}|{{ m() }}",
    "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}",
    "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}",
    "{% set x = 1 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 2 %}{{ m() }}{% for x in [5] %}{{ m() }}{% endfor %}",
    "{% macro m(a) %}[{{ caller() }}|{{ a }}]{% endmacro %}{% call m(1) %}inner{% endcall %}",
    "{% macro m() %}{{ caller(7) }}{% endmacro %}{% call(v) m() %}got {{ v }}{% endcall %}",
    "{% macro fail() %}{{ raise_exception('from a macro') }}{% endmacro %}before{{ fail() }}",
    "{% generation %}{% set x = 1 %}gen{% endgeneration %}[{{ x }}]",
    "{% filter upper %}abc {{ 'd' }}{% endfilter %}",
    "{% print 'printed' %}",
    # globals
    "{{ range(3) | list }}{{ range(1, 4) | list }}{{ range(0) | list }}",
    "{{ dict(a=1, b='x') }}{{ namespace(a=1).a }}",
    "{{ raise_exception('Custom message with \"quotes\"') }}",
    "{% if messages | length > 3 %}{{ raise_exception('too long') }}{% endif %}ok",
    "{{ strftime_now('%Y-%m-%d %H:%M:%S %a %A %b %B %j %p %I %y %e|%-d|%-m|%%') }}",
    # undefined behaviour
    "{{ x }}|{{ x is none }}|{% if x %}t{% else %}f{% endif %}|{{ x == x }}|{{ x | string }}|{{ x | trim }}|{{ x | upper }}",
    "{{ x | first }}{{ x | list }}{{ x | join }}{{ x | items | list }}{{ 'a' in x }}",
    "{{ x[0] }}",
    "{{ x() }}",
    "{{ x < 1 }}",
    "{{ l.append(1) if false else 'ok' }}",
    # runtime semantics found by fuzzing against jinja2 (values come from the context, so nothing is constant-folded)
    "{{ e >= e }}",
    "{{ x | int }}",
    "{{ x | float }}",
    "{{ ' a %s|' % x }}{{ 'b' % x }}{{ '%s' % l }}",
    "{{ l | indent }}",
    "{{ n[1:] }}",
    "{{ d[1:] }}",
    "{{ (l | first, 2).count(2) }}{{ (l | first, 2).index(2) }}",
    "{{ x is callable }}{{ d.get is callable }}{{ l is callable }}",
    "{{ l <= l }}{{ [1, e] <= [1, e] }}{{ 'a' >= 'a' }}",
    "{{ inf | int }}",
    "{{ 'nan' | int(7) }}{{ '1e400' | int(8) }}",
]

CONSTRUCT_CONTEXT = {
    "d": {"a": 1, "b": "two"},
    "l": [1, 2, 3],
    "e": {},
    "n": None,
    "inf": float("inf"),
    "messages": [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"}],
}


def constructs_fixture():
    out = []
    for source in CONSTRUCTS:
        pin_clock(source)
        result = outcome(lambda: _compile_jinja_template(source).render(**copy.deepcopy(CONSTRUCT_CONTEXT)))
        out.append({"template": source, **result})
    return out


def main():
    header = {
        "generator": "tools/reference/gen_chat_template_fixtures.py",
        "versions": {"transformers": transformers.__version__, "jinja2": jinja2.__version__,
                     "python": sys.version.split()[0]},
        "fixed_date": FIXED_DATE.isoformat() + "Z",
    }
    with open(os.path.join(FIXTURES, "chat_templates.json"), "w", encoding="utf-8") as f:
        json.dump({**header, "cases": chat_template_fixture()}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(os.path.join(FIXTURES, "constructs.json"), "w", encoding="utf-8") as f:
        json.dump({**header, "context": CONSTRUCT_CONTEXT, "cases": constructs_fixture()}, f, ensure_ascii=False,
                  indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
