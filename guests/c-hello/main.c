// A C activity component: the `activity` world of wit/durable.wit, with bindings that the guest
// builder generates into `activity.h` / `activity.c` at every build (see guest-sdk/README.md, "C").
//
// - `c_word_count`: input a JSON string; output `{"words": n, "bytes": m}`, the number of words
//   (runs of characters other than ASCII whitespace, escapes such as `\n` or `\u0020` included)
//   and the length of the decoded text in UTF-8 bytes. A text without words fails with
//   `EmptyText`; an input that is not a JSON string fails with `InvalidInput`.
//
// Ownership follows the C bindings' rules: the arguments of an export belong to it (it frees
// them), and what it returns is freed by the generated post-return function, so every returned
// string is a heap copy.

#include "activity.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const NAMES[] = {"c_word_count"};
#define NAME_COUNT (sizeof(NAMES) / sizeof(NAMES[0]))

void exports_reprise_durable_activities_names(activity_list_string_t *ret) {
    ret->len = NAME_COUNT;
    ret->ptr = malloc(NAME_COUNT * sizeof(activity_string_t));
    for (size_t i = 0; i < NAME_COUNT; i++) {
        activity_string_dup(&ret->ptr[i], NAMES[i]);
    }
}

// Fills `err` with a failure of type `error_type` and no causes; returns false, the `run`
// result meaning "failed".
static bool fail(exports_reprise_durable_activities_failure_t *err, const char *error_type,
                 const char *message) {
    memset(err, 0, sizeof(*err));
    activity_string_dup(&err->error_type, error_type);
    activity_string_dup(&err->message, message);
    err->details.is_some = false;
    err->causes.ptr = NULL;
    err->causes.len = 0;
    return false;
}

static bool is_json_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_ascii_space(uint32_t c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static int hex_digit(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The UTF-8 length of code point `c`.
static size_t utf8_len(uint32_t c) {
    return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

// What a JSON string holds: its words and its decoded length in UTF-8 bytes.
typedef struct {
    size_t words;
    size_t bytes;
} text_stats_t;

// Reads the JSON document `json` (`len` bytes), which must be one string, into `stats`.
// Returns NULL, or what is wrong with the input.
static const char *scan_json_string(const uint8_t *json, size_t len, text_stats_t *stats) {
    size_t i = 0;
    while (i < len && is_json_space(json[i])) i++;
    if (i == len || json[i] != '"') return "the input is not a JSON string";
    i++;
    bool in_word = false;
    stats->words = 0;
    stats->bytes = 0;
    for (;;) {
        if (i == len) return "the JSON string is not terminated";
        uint8_t c = json[i++];
        if (c == '"') break;
        if (c < 0x20) return "the JSON string holds a raw control character";
        uint32_t code = c;
        size_t bytes = 1;
        if (c == '\\') {
            if (i == len) return "the JSON string ends inside an escape";
            uint8_t e = json[i++];
            switch (e) {
                case '"': case '\\': case '/': code = e; break;
                case 'b': code = '\b'; break;
                case 'f': code = '\f'; break;
                case 'n': code = '\n'; break;
                case 'r': code = '\r'; break;
                case 't': code = '\t'; break;
                case 'u': {
                    if (len - i < 4) return "the JSON string has a short \\u escape";
                    code = 0;
                    for (int k = 0; k < 4; k++) {
                        int d = hex_digit(json[i++]);
                        if (d < 0) return "the JSON string has a \\u escape that is not hexadecimal";
                        code = code * 16 + (uint32_t)d;
                    }
                    // A surrogate pair (`\ud83d\ude00`) is one code point of four UTF-8 bytes;
                    // a lone surrogate is counted as the three bytes of U+FFFD.
                    if (code >= 0xD800 && code <= 0xDBFF && len - i >= 6 && json[i] == '\\' &&
                        json[i + 1] == 'u') {
                        uint32_t low = 0;
                        bool ok = true;
                        for (int k = 0; k < 4; k++) {
                            int d = hex_digit(json[i + 2 + k]);
                            if (d < 0) ok = false;
                            low = low * 16 + (uint32_t)(d < 0 ? 0 : d);
                        }
                        if (ok && low >= 0xDC00 && low <= 0xDFFF) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                            i += 6;
                        }
                    }
                    if (code >= 0xD800 && code <= 0xDFFF) code = 0xFFFD;
                    break;
                }
                default:
                    return "the JSON string has an unknown escape";
            }
            bytes = utf8_len(code);
        }
        stats->bytes += bytes;
        if (is_ascii_space(code)) {
            in_word = false;
        } else if (!in_word) {
            in_word = true;
            stats->words++;
        }
    }
    while (i < len && is_json_space(json[i])) i++;
    if (i != len) return "the input holds more than one JSON string";
    return NULL;
}

static bool word_count(const activity_string_t *input, exports_reprise_durable_activities_payload_t *ret,
                       exports_reprise_durable_activities_failure_t *err) {
    text_stats_t stats;
    const char *problem = scan_json_string(input->ptr, input->len, &stats);
    if (problem != NULL) return fail(err, "InvalidInput", problem);
    if (stats.words == 0) return fail(err, "EmptyText", "the text has no words to count");
    char out[64];
    snprintf(out, sizeof(out), "{\"words\":%zu,\"bytes\":%zu}", stats.words, stats.bytes);
    activity_string_dup(ret, out);
    return true;
}

bool exports_reprise_durable_activities_run(activity_string_t *name,
                                            exports_reprise_durable_activities_payload_t *input,
                                            exports_reprise_durable_activities_payload_t *ret,
                                            exports_reprise_durable_activities_failure_t *err) {
    bool ok;
    if (name->len == strlen("c_word_count") && memcmp(name->ptr, "c_word_count", name->len) == 0) {
        ok = word_count(input, ret, err);
    } else {
        ok = fail(err, "UnknownActivity", "this component has no such activity");
    }
    activity_string_free(name);
    exports_reprise_durable_activities_payload_free(input);
    return ok;
}
