#!/usr/bin/env python3
# Generates the Tokenizer test fixtures from SmolLM2's GGUF with Hugging Face `tokenizers` as the reference.
# Pinned: tokenizers 0.23.3, gguf 0.19.0, regex 2026.11.19 (the environment tools/reference/setup-env creates).
#
#   "$(tools/reference/setup-env)" tools/reference/gen_tokenizer_fixtures.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
#
# Writes into Tests/TokenizerTests/Fixtures/:
#   smollm2_tokenizer.json    the TokenizerData (snake_case keys) built from the GGUF's tokenizer.ggml.* keys
#   smollm2_encodings.json    fixture strings with the exact ids and decodes from `tokenizers`, decodes of
#                             arbitrary id runs (invalid UTF-8), and cases with extra added tokens
#                             (lstrip / rstrip / single_word / normalized)
#   pretokenizer_splits.json  the same strings split by the gpt2, llama3 and qwen2 regexes (Python `regex`),
#                             cross-checked against the Oniguruma regex inside `tokenizers`

import json
import os
import random
import sys
import unicodedata

import gguf
import regex
import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers
from tokenizers.models import BPE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_common import GGUF_PATH  # noqa: E402

GGUF = sys.argv[1] if len(sys.argv) > 1 else GGUF_PATH

GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN2 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

# MARK: - The reference tokenizer


def load_gguf_tokenizer(path):
    fields = gguf.GGUFReader(path).fields
    tokens = list(fields["tokenizer.ggml.tokens"].contents())
    merges = list(fields["tokenizer.ggml.merges"].contents())
    types = list(fields["tokenizer.ggml.token_type"].contents())
    assert fields["tokenizer.ggml.pre"].contents() == "smollm"
    return tokens, merges, types


def build_reference(tokens, merges, types):
    tok = Tokenizer(BPE({t: i for i, t in enumerate(tokens)}, [tuple(m.split(" ")) for m in merges]))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    specials = [AddedToken(tokens[i], special=True, normalized=False) for i, t in enumerate(types) if t == 3]
    tok.add_special_tokens(specials)
    return tok


# MARK: - Fixture strings

HAND = [
    "",
    " ",
    "a",
    "Hello world",
    "Hello, world! How are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "  leading spaces",
    "trailing spaces   ",
    "   both   ",
    "multiple    spaces    between",
    "tab\tseparated\tvalues",
    "\t\tleading tabs",
    "line one\nline two\nline three",
    "windows\r\nline\r\nendings\r\n",
    "old mac\rline\rendings",
    "\n\n\nthree newlines first",
    "blank lines\n\n\n\nbetween",
    "mixed \t \n \r\n whitespace \u00a0 run",
    " \n ",
    "\n",
    "\r\n",
    "\t",
    "    ",
    "x \t\n y",
    "a\u00a0b\u2000c\u3000d\u2028e\u2029f\u0085g\u202fh\u205fi\u1680j",
    "vertical\x0btab and form\x0cfeed",
    "file\x1cgroup\x1drecord\x1eunit\x1fsep",
    "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom",
    "control \x00 \x01 \x07 \x7f chars",
    "bytes without a token: \x04\x06\x13\x14\x16\x1d end",
    "x!\x1d!y ..\x04.. ab\x1dcd",
    # contractions in mixed case
    "I'm sure you're right, we'll see what they've done and he'd say it's fine.",
    "I'M SURE YOU'RE RIGHT, WE'LL SEE WHAT THEY'VE DONE AND HE'D SAY IT'S FINE.",
    "I'm You'Re we'Ll they'vE he'D It'S don't DON'T Don'T",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D",
    "'ſ 'K ʼs ’s ‘t’",
    "''''s'''",
    "rock'n'roll o'clock y'all ma'am",
    "'hello' \"world\" `code`",
    "l'homme d'affaires qu'il aujourd'hui",
    # numbers
    "0",
    "1234567890",
    "3.14159265358979",
    "1,000,000.00",
    "-42 +17 1e-9 0x1F 0b1010 0o777",
    "Call 555-0123 or +1 (800) 555-0199.",
    "2024-01-15T08:30:00Z",
    "version 1.2.3-beta.4+build.567",
    "١٢٣٤٥ ٠١٢",
    "۱۲۳ Persian digits",
    "१२३४ देवनागरी अंक",
    "１２３ full-width ４５６",
    "½ ¼ ¾ ⅓ ² ³ ¹ ⁴",
    "Ⅰ Ⅱ Ⅲ Ⅳ Ⅻ ⅰⅱⅲ",
    "① ② ③ ⑩ ⑳",
    "〇一二三 漢数字",
    "𝟘𝟙𝟚 math digits",
    "100% of 50% is 25%",
    "$1,234.56 €99 £7 ¥1000 ₹500",
    "a1b2c3d4",
    "abc123def456",
    " 1 22 333 4444 55555",
    "123abc 456 def789",
    # scripts
    "Привет, мир! Как дела?",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Γειά σου Κόσμε! Ελληνικά γράμματα: αβγδεζηθ",
    "你好，世界！今天天气很好。",
    "我爱自然语言处理和机器学习。",
    "日本語のテキスト：ひらがな、カタカナ、漢字。",
    "こんにちは世界 コンニチハ",
    "안녕하세요 세계! 한국어 텍스트입니다.",
    "مرحبا بالعالم! هذا نص عربي.",
    "שלום עולם! זה טקסט בעברית.",
    "नमस्ते दुनिया! यह हिंदी पाठ है।",
    "ভাষা বাংলা লিপি",
    "தமிழ் எழுத்துக்கள்",
    "తెలుగు భాష",
    "ಕನ್ನಡ ಭಾಷೆ",
    "മലയാളം ഭാഷ",
    "ગુજરાતી ભાષા",
    "ਪੰਜਾਬੀ ਭਾਸ਼ਾ",
    "สวัสดีชาวโลก ภาษาไทย",
    "ສະບາຍດີ ພາສາລາວ",
    "ភាសាខ្មែរ",
    "မြန်မာဘာသာ",
    "བོད་ཡིག",
    "ᠮᠣᠩᠭᠣᠯ ᠪᠢᠴᠢᠭ",
    "ሰላም ልዑል አማርኛ",
    "Բարեւ աշխարհ Հայերեն",
    "გამარჯობა მსოფლიო ქართული",
    "Xin chào thế giới! Tiếng Việt có dấu.",
    "Tiếng Việt (decomposed): Tie\u0302\u0301ng Vie\u0323\u0302t",
    "e\u0301 vs \u00e9, n\u0303 vs \u00f1, a\u030a vs \u00e5",
    "canonically equivalent: \u00c5 A\u030a \u212b \u2000\u2002 \u2001\u2003 \u1e9b\u0323 \u1e0b\u0323 \u1e0d\u0307",
    "Zalgo: Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334a\u0352l\u0307g\u0358o\u0336",
    "Ünïcödé wîth äccénts: ÀÉÎÕÜ àéîõü çÇ ßẞ",
    "Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ",
    "Ǆǅǆ ǈǋ titlecase digraphs",
    "ʰʲʷ ˢ modifier letters ꜰ",
    "𝐁𝐨𝐥𝐝 𝑖𝑡𝑎𝑙𝑖𝑐 𝔉𝔯𝔞𝔨𝔱𝔲𝔯",
    "İstanbul ıi IJ ĳ ŉ ǰ",
    "Ελλάς Ἀθῆναι ᾅ",
    "Čeština Ślązak Łódź Ħaż",
    "Mixed: English, Русский, 中文, العربية, हिन्दी, 日本語 in one line.",
    # emoji
    "😀",
    "I love 🍕 and 🍣!",
    "👍🏽 👍🏿 👋🏻 thumbs with skin tones",
    "👨\u200d👩\u200d👧\u200d👦 family",
    "👩🏽\u200d💻 technologist",
    "🏳️\u200d🌈 rainbow flag",
    "🏴\u200d☠️ pirate",
    "🇫🇷🇯🇵🇺🇸 flags",
    "1️⃣ 2️⃣ #️⃣ *️⃣ keycaps",
    "❤️ ♥ ☺️ ✨ ⭐ ☀",
    "🧑\u200d🤝\u200d🧑 people holding hands",
    "😂😂😂😂😂",
    "emoji🙂inside🙃words",
    "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland tag sequence",
    "☃︎ text presentation ☃️ emoji presentation",
    # symbols and punctuation
    "!@#$%^&*()_+-=[]{}|;':\",./<>?",
    "...!!!???---___===+++",
    "«Bonjour» „Hallo“ “quotes” ‘single’ ‹›",
    "— – ‐ ‑ ‒ dashes … ellipsis",
    "→ ← ↑ ↓ ⇒ ⇔ ∀x∃y: x ≤ y ∧ y ≠ 0",
    "∑_{i=1}^{n} i² = n(n+1)/2",
    "© ® ™ § ¶ † ‡ • ° ′ ″",
    "¡Hola! ¿Qué tal?",
    "(parenthesized) [bracketed] {braced} <angled>",
    "(abc ((abc ((abc)) x(y)z",
    "«\nquoted\n»",
    "end.\n\nNext paragraph.\r\n\r\nAnother.",
    "a.b.c a,b,c a;b;c a:b:c a/b/c a\\b\\c",
    "snake_case_name camelCaseName PascalCase kebab-case SCREAMING_CASE",
    "__init__ __main__ _private",
    # code
    "def hello(name: str) -> str:\n    return f\"Hello, {name}!\"\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}",
    "func encode(_ text: String) -> [Int] {\n    guard !text.isEmpty else { return [] }\n}",
    "const x = () => { console.log('hi'); };",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "<html><head><title>Test</title></head><body><p class=\"x\">Hi</p></body></html>",
    "{\"key\": \"value\", \"num\": 42, \"arr\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }",
    "if x == 1:\n\tif y:\n\t\tpass\n\telse:\n\t\treturn None",
    "    indented with four\n        and eight spaces\n",
    "git commit -m \"fix: handle CRLF\" && git push origin main",
    "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct?x=1&y=2#frag",
    "user.name+tag@example.co.uk",
    "/usr/local/bin/swift build --scratch-path .build -c release",
    "C:\\Users\\Name\\Documents\\file.txt",
    "regex: ^[a-zA-Z0-9_]+@[a-z]+\\.[a-z]{2,3}$",
    "| col1 | col2 |\n|------|------|\n| a    | b    |",
    "- item one\n- item two\n  - nested item\n1. first\n2. second",
    "# Heading\n\n**bold** _italic_ `code` [link](http://x.y)",
    "```python\nprint('hi')\n```",
    "x+=1;y-=2;z*=3;w/=4;a%=5;b**=6;c//=7",
    "0xDEADBEEF 0777 1_000_000 3.0e+10f",
    "α=0.5; β=1e-3; γ←α·β",
    # special tokens inside text
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n2+2 = 4.<|im_end|>\n",
    "<|im_start|><|im_end|>",
    "<|im_start|><|im_start|><|im_start|>",
    "text<|endoftext|>more text",
    " <|im_start|> spaced <|im_end|> ",
    "<|im_start",
    "<|im_start|",
    "im_start|>",
    "<<|im_end|>>",
    "<|im_end|>|>",
    "<||im_end|>",
    "<|IM_START|> is not special",
    "<repo_name>my/repo<file_sep>main.py<filename>x",
    "<reponame><gh_stars>100",
    "<issue_start><issue_comment><issue_closed>",
    "<jupyter_start><jupyter_text>text<jupyter_code>code<jupyter_output>out<jupyter_script><empty_output>",
    "a<|im_start|>b<|im_end|>c",
    "\n<|im_start|>\n",
    "<|im_start|>assistant\n",
    "<|endoftext|><|endoftext|>",
    "<|endoftext|>\u00e9<|endoftext|>",
    # single characters and edge bytes
    "é",
    "€",
    "𝄞",
    "\u0301",
    "\u200d",
    "\ufffd",
    "\U0010fffd",
    "\ue000 private use",
    "~",
    "'",
    "''",
    "' s",
    "'s",
    "'ll've",
    " 's",
    "\u00ff\u0100\u0120\u0121",
    "ĠĊ ċ Ā byte-level alphabet chars",
]

LONG = [
    "a" * 2000,
    "ab" * 1000,
    "supercalifragilisticexpialidocious" * 40,
    "1" * 500,
    "1234567890" * 50,
    "🙂" * 300,
    " " * 1000,
    "\n" * 300,
    "!?" * 400,
    "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft",
    "日本語" * 300,
    "x" * 100 + "\t" * 50 + "y" * 100,
]

FRAGMENTS = [
    "the", "The", "THE", " and", "of", "to", "in", "is", "that", "it", "was", "for", "on", "are", "with",
    "as", "I", "his", "they", "be", "at", "one", "have", "this", "from", "or", "had", "by", "hot", "word",
    "token", "tokenizer", "Swift", "BPE", "merge", "unicode", "language", "model", "training", "DPO",
    "don't", "It's", "we've", "YOU'LL", "she'd", "I'M", "they're",
    "42", "7", "2024", "3.5", "100,000", "0.001", "١٢", "५",
    "Привет", "мир", "こんにちは", "世界", "안녕", "مرحبا", "שלום", "नमस्ते", "Γειά", "ไทย", "Việt",
    "😀", "👍🏽", "👨\u200d👩\u200d👧", "🇩🇪", "✨", "❤️", "🏳️\u200d🌈",
    "(", ")", "[", "]", "{", "}", ",", ".", ";", ":", "!", "?", "'", "\"", "-", "--", "_", "/", "\\",
    "=", "==", "=>", "->", "+", "*", "&", "|", "#", "@", "$", "%", "^", "~", "`", "<", ">", "<=",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<file_sep>",
    "é", "ñ", "ü", "ß", "ø", "e\u0301", "\u00a0", "\u3000", "\u200b",
]

SEPARATORS = ["", " ", " ", " ", "  ", "\n", "\t", "\r\n", "\n\n", " \n", "   ", "\u00a0"]


def random_strings(count, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        n = rng.randint(1, 14)
        parts = []
        for _ in range(n):
            parts.append(rng.choice(FRAGMENTS))
            parts.append(rng.choice(SEPARATORS))
        if rng.random() < 0.3:
            parts.insert(0, rng.choice(SEPARATORS))
        out.append("".join(parts))
    return out


def random_scalars(count, seed):
    """Strings of random assigned scalars from many blocks, so the category tables are exercised broadly."""
    rng = random.Random(seed)
    ranges = [
        (0x20, 0x7E), (0x09, 0x0D), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x52F), (0x590, 0x6FF),
        (0x900, 0xDFF), (0xE00, 0xEFF), (0x1100, 0x11FF), (0x1E00, 0x1FFF), (0x2000, 0x206F),
        (0x2070, 0x218F), (0x2190, 0x2BFF), (0x3000, 0x30FF), (0x4E00, 0x4FFF), (0xAC00, 0xAD00),
        (0xFF00, 0xFFEF), (0x1D400, 0x1D7FF), (0x1F300, 0x1F64F),
    ]
    out = []
    for _ in range(count):
        chars = []
        for _ in range(rng.randint(1, 40)):
            lo, hi = rng.choice(ranges)
            c = chr(rng.randint(lo, hi))
            # Unassigned in Unicode 14 (Python's table) may be assigned in Swift's, onig's or regex's own.
            if unicodedata.category(c) != "Cn":
                chars.append(c)
        s = "".join(chars)
        out.append(s)
    return out


def fixture_strings():
    strings = list(HAND) + list(LONG) + random_strings(300, 1234) + random_scalars(120, 5678)
    return list(dict.fromkeys(strings))  # first occurrences, in order


# MARK: - Extra added tokens (lstrip, rstrip, single_word, normalized)

EXTRA_TOKENS = [
    dict(content="<mask>", special=True, lstrip=True, rstrip=True, normalized=False, single_word=False),
    dict(content="[WORD]", special=False, lstrip=False, rstrip=False, normalized=False, single_word=True),
    dict(content=" my ", special=False, lstrip=False, rstrip=False, normalized=True, single_word=False),
    dict(content="<|im_start|>x", special=True, lstrip=False, rstrip=False, normalized=False, single_word=False),
    dict(content="<|im", special=False, lstrip=False, rstrip=False, normalized=True, single_word=False),
    dict(content="Hello", special=False, lstrip=False, rstrip=False, normalized=True, single_word=True),
    dict(content="<L>", special=False, lstrip=True, rstrip=False, normalized=False, single_word=False),
    dict(content="<R>", special=False, lstrip=False, rstrip=True, normalized=False, single_word=False),
]

EXTRA_CASES = [
    "I saw a <mask> here",
    "I saw a<mask>here",
    "Hi <mask> there\t<mask>\t<mask>\u2000",
    "\u3000<mask>\u2000x",
    "  <mask>  <mask>  ",
    "[WORD]",
    "a [WORD] b",
    "a[WORD] b",
    "a [WORD]b",
    "-[WORD]-",
    "_[WORD]",
    "[WORD]_",
    "é[WORD]",
    "\u0301[WORD]",
    "5[WORD]",
    "Ⅻ[WORD]",
    "½[WORD]",
    "[WORD][WORD]",
    "[WORD] [WORD]",
    "Hello my friend",
    "say Hello to my little friend",
    "HelloHello Hello",
    "<|im_start|>Hello",
    "<|im_start|>xyz",
    "<|im_start|>",
    "<|im_x <|im_start|> <|im",
    "<|im_end|>Hello<|im_end|>",
    "a <L> b <R> c",
    "a  <L><R>  b",
    "<R>  <L>",
    "   <L>",
    "<R>   ",
    "<mask><mask>",
    "my my my",
    " my  my ",
    "<mask> my <mask>",
    "\u4e16[WORD]\u754c",
    "[WORD]\u200d",
    "x\u200c[WORD]",
]


def build_extra(tok):
    added = []
    for spec in EXTRA_TOKENS:
        t = AddedToken(
            spec["content"], special=spec["special"], lstrip=spec["lstrip"], rstrip=spec["rstrip"],
            normalized=spec["normalized"], single_word=spec["single_word"],
        )
        if spec["special"]:
            tok.add_special_tokens([t])
        else:
            tok.add_tokens([t])
        added.append(dict(spec, id=tok.token_to_id(spec["content"])))
    cases = []
    for s in EXTRA_CASES:
        ids = tok.encode(s).ids
        cases.append(dict(text=s, ids=ids, decoded=tok.decode(ids, skip_special_tokens=False), decoded_skip=tok.decode(ids, skip_special_tokens=True)))
    return added, cases


# MARK: - Main


def split_with(pattern, s):
    return [m.group() for m in regex.finditer(pattern, s)]


def main():
    tokens, merges, types = load_gguf_tokenizer(GGUF)
    tok = build_reference(tokens, merges, types)
    os.makedirs(OUT, exist_ok=True)

    data = dict(
        pre_tokenizer="smollm",
        vocab=tokens,
        merges=merges,
        added_tokens=[
            dict(id=i, content=tokens[i], special=True, lstrip=False, rstrip=False, normalized=False, single_word=False)
            for i, t in enumerate(types) if t == 3
        ],
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
        add_bos_token=False,
        add_eos_token=False,
    )
    with open(os.path.join(OUT, "smollm2_tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, separators=(",", ":"))

    strings = fixture_strings()
    encodings = []
    lossy = []
    for s in strings:
        ids = tok.encode(s).ids
        decoded = tok.decode(ids, skip_special_tokens=False)
        if decoded != s:
            # SmolLM2's vocab has no token for 21 bytes (e.g. 0x1D, 0xC0, 0xF5-0xFF); BPE drops them.
            lossy.append(s)
        encodings.append(
            dict(text=s, ids=ids, decoded=decoded, decoded_skip=tok.decode(ids, skip_special_tokens=True)))

    rng = random.Random(99)
    decodes = []
    for n in range(60):
        k = rng.randint(1, 12)
        if n % 3 == 0:
            ids = [rng.randint(17, 16 + 256) for _ in range(k)]  # mostly single-byte tokens: broken UTF-8
        elif n % 3 == 1:
            ids = [rng.randint(0, len(tokens) - 1) for _ in range(k)]
        else:
            ids = [rng.choice([0, 1, 2, 5, 16, rng.randint(17, 400), rng.randint(400, 49151)]) for _ in range(k)]
        decodes.append(dict(ids=ids, text=tok.decode(ids, skip_special_tokens=False), text_skip=tok.decode(ids, skip_special_tokens=True)))

    extra_tok = build_reference(tokens, merges, types)
    extra_added, extra_cases = build_extra(extra_tok)

    with open(os.path.join(OUT, "smollm2_encodings.json"), "w", encoding="utf-8") as f:
        json.dump(
            dict(
                tokenizers_version=tokenizers.__version__,
                encodings=encodings,
                decodes=decodes,
                extra_added_tokens=extra_added,
                extra_cases=extra_cases,
            ),
            f, ensure_ascii=False, separators=(",", ":"),
        )

    # Pre-tokenizer splits from Python `regex`, checked against Oniguruma (tokenizers' Split).
    splits = []
    disagreements = 0
    for s in strings:
        row = dict(text=s)
        for name, pattern in (("gpt2", GPT2), ("llama3", LLAMA3), ("qwen2", QWEN2)):
            pieces = split_with(pattern, s)
            assert "".join(pieces) == s
            onig = [p for p, _ in pre_tokenizers.Split(Regex(pattern), behavior="isolated").pre_tokenize_str(s)]
            if onig != pieces:
                disagreements += 1
                print(f"regex and onig disagree ({name}): {s!r}\n  regex {pieces}\n  onig  {onig}")
            row[name] = pieces
        splits.append(row)
    with open(os.path.join(OUT, "pretokenizer_splits.json"), "w", encoding="utf-8") as f:
        json.dump(dict(splits=splits), f, ensure_ascii=False, separators=(",", ":"))

    print(f"not round-tripping (bytes without a token): {lossy!r}")
    print(f"{len(strings)} strings, {len(decodes)} decodes, {len(extra_cases)} added-token cases, "
          f"{disagreements} regex/onig disagreements")
    for name in ("smollm2_tokenizer.json", "smollm2_encodings.json", "pretokenizer_splits.json"):
        print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")


if __name__ == "__main__":
    main()
