// Package chat renders Hugging Face chat templates and holds r1's own prompt
// formats.
//
// # Chat templates
//
// Render / Template.Render produce exactly what transformers'
// tokenizer.apply_chat_template(messages, tokenize=False) returns: the
// template is Jinja evaluated the way transformers configures Jinja2
// (ImmutableSandboxedEnvironment, trim_blocks and lstrip_blocks on, the
// loopcontrols extension, a tojson filter that is Python's json.dumps with
// ensure_ascii=False and Python's separators, raise_exception and
// strftime_now globals), with messages, tools (None when absent),
// documents, add_generation_prompt, the special tokens and extra variables
// in the context. FromTokenizerConfig reads chat_template (a string or a
// list of named templates) and the special tokens (strings or
// {"content": ...} objects) from tokenizer_config.json.
//
// The package has its own Jinja interpreter (lex.go, parse.go, eval.go,
// builtins.go) instead of gonja, although DESIGN.md named gonja. gonja v2
// renders simple templates correctly, but byte-exact agreement needs Python
// semantics everywhere chat templates reach: insertion-ordered dicts (tojson
// of tool schemas prints keys in the caller's order, which Go maps lose),
// json.dumps spacing and escaping, Python str/repr of None, floats, lists
// and tuples, str methods with Python whitespace rules, [::-1] slices,
// Jinja's per-iteration loop scoping, and Jinja2's exact lexer rules for
// trim_blocks / lstrip_blocks / "-" and "+" markers. Owning the ~3k lines
// that implement that subset makes each of these a local, tested decision.
// Supported: {{ }}, {% if/elif/else %}, {% for %} with else, filters,
// tuple targets and loop.*, {% set %} (names, tuples, namespace attributes,
// blocks), {% macro %}, {% break/continue %}, {% raw %}, {% generation %},
// comments, the common filters and tests, and str/dict/list methods.
// Not supported: include/import/extends/call/filter blocks and autoescape.
//
// Expected strings in testdata/expected.json come from Python Jinja2 3.1
// configured as transformers does (testdata/make_expected.py says how), for
// the Qwen2.5, Qwen3, QwQ, R1-Distill and Llama-3.1 templates and three
// tokenizer_config.json files, over 13 conversations with and without a
// generation prompt; the Go tests compare byte for byte.
//
// # r1 prompt formats
//
// R1Zero is the DeepSeek-R1-Zero template (paper Table 1); CountdownBase
// and CountdownQwenInstruct are TinyZero's Countdown prompts;
// FormatReasoning / ParseReasoning are the R1 cold-start output format
// (reasoning inside <think></think>, then the summary). Prompt builds any
// of them by name: "r1-zero", "countdown-base", "countdown-qwen-instruct",
// "chat" (the model's own template) and "plain".
package chat
