/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sfz.c — the SFZ reader and note player of sfz.h. Opcodes are kept as text per header level and
 * applied in order (global, master, group, region) when a region closes, so inheritance is the
 * format's own rule: a later level overrides an earlier one.
 */
#include "sfz.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"

#define SFZ_MAX_INCLUDE_DEPTH 8
/* Files read per instrument in all: depth alone allows k^8 reads when a file includes
 * itself k times. */
#define SFZ_MAX_INCLUDES 256
#define SFZ_MAX_FILE_BYTES (16u << 20)
#define SFZ_MAX_WARNINGS_SHOWN 8
#define SFZ_MAX_DEFINES 256
#define SFZ_MIN_RELEASE_S 0.005 /* a release shorter than this clicks */

typedef struct {
  char *key, *value;
} opcode;

typedef struct {
  opcode *items;
  size_t n, cap;
} opcode_list;

enum { LEVEL_CONTROL, LEVEL_GLOBAL, LEVEL_MASTER, LEVEL_GROUP, LEVEL_REGION, N_LEVELS };

typedef struct {
  float *x;          /* mono, at the render rate; NULL until first use */
  size_t frames;     /* 0 with x != NULL: decoded, but empty or unreadable */
  double rate_scale; /* render rate / the file's own rate (loop points are in its frames) */
  int failed;
} sfz_sample;

typedef struct {
  int sw_last;      /* keyswitch that selects the region, -1 none */
  int lorand_milli; /* [lorand, hirand) * 1000 */
  int hirand_milli;
} region_extra;

struct sfz_instrument {
  char *name;
  sfz_region *regions;
  region_extra *extra;
  size_t n_regions, cap_regions;
  char **sample_paths;
  sfz_sample *samples;
  size_t n_samples, cap_samples;
  int sw_default; /* the keyswitch every note is played with, -1 when none is used */
  pthread_mutex_t lock;
};

/* State while parsing one top-level file and what it includes. */
typedef struct {
  sfz_instrument *ins;
  opcode_list levels[N_LEVELS];
  int level;     /* where opcodes go */
  int in_region; /* a <region> is open */
  int region_line;
  char *defines[SFZ_MAX_DEFINES][2];
  size_t n_defines;
  char *dir; /* folder of the top-level file: sample paths are relative to it */
  char *warn;
  size_t warnlen, n_warnings, warn_used;
  char unknown[64][40]; /* opcode names already warned about */
  size_t n_unknown;
  char *errbuf;
  size_t errlen;
  int failed;
  int generator_sample; /* the region being built names *sine, *noise... */
  int n_includes;       /* #include files read so far */
} parser;

static void warn(parser *p, const char *name, int line, const char *fmt, ...)
{
  p->n_warnings++;
  if (!p->warn || p->warnlen == 0 || p->n_warnings > SFZ_MAX_WARNINGS_SHOWN)
    return;
  if (p->warn_used >= p->warnlen - 1)
    return;
  int k = snprintf(p->warn + p->warn_used, p->warnlen - p->warn_used, "%s:%d: ", name, line);
  if (k < 0 || (size_t)k >= p->warnlen - p->warn_used) {
    p->warn_used = p->warnlen - 1;
    return;
  }
  p->warn_used += (size_t)k;
  va_list ap;
  va_start(ap, fmt);
  k = vsnprintf(p->warn + p->warn_used, p->warnlen - p->warn_used, fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= p->warnlen - p->warn_used - 1) {
    p->warn_used = p->warnlen - 1;
    return;
  }
  p->warn_used += (size_t)k;
  p->warn[p->warn_used++] = '\n';
  p->warn[p->warn_used] = '\0';
}

static int fail(parser *p, const char *fmt, ...)
{
  if (p->errbuf && p->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errbuf, p->errlen, fmt, ap);
    va_end(ap);
  }
  p->failed = 1;
  return -1;
}

static char *dup_range(const char *s, size_t n)
{
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

static void list_clear(opcode_list *l)
{
  for (size_t i = 0; i < l->n; i++) {
    free(l->items[i].key);
    free(l->items[i].value);
  }
  free(l->items);
  memset(l, 0, sizeof *l);
}

static int list_set(opcode_list *l, const char *key, const char *value)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->items[i].key, key) == 0) {
      char *v = strdup(value);
      if (!v)
        return -1;
      free(l->items[i].value);
      l->items[i].value = v;
      return 0;
    }
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    opcode *grown = realloc(l->items, cap * sizeof *grown);
    if (!grown)
      return -1;
    l->items = grown;
    l->cap = cap;
  }
  opcode o = {strdup(key), strdup(value)};
  if (!o.key || !o.value) {
    free(o.key);
    free(o.value);
    return -1;
  }
  l->items[l->n++] = o;
  return 0;
}

static const char *list_get(const opcode_list *l, const char *key)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->items[i].key, key) == 0)
      return l->items[i].value;
  return NULL;
}

/* ---- values ------------------------------------------------------------------------------ */

int sfz_parse_note(const char *s)
{
  if (!s || !*s)
    return -1;
  char *end;
  long v = strtol(s, &end, 10);
  if (end != s && *end == '\0')
    return v >= 0 && v <= 127 ? (int)v : -1;
  static const int semitone[7] = {9, 11, 0, 2, 4, 5, 7}; /* a b c d e f g */
  int c = tolower((unsigned char)s[0]);
  if (c < 'a' || c > 'g')
    return -1;
  int n = semitone[c - 'a'];
  const char *q = s + 1;
  if (*q == '#') {
    n++;
    q++;
  } else if (*q == 'b' && (q[1] == '-' || isdigit((unsigned char)q[1]))) {
    n--;
    q++;
  }
  if (!*q)
    return -1;
  long octave = strtol(q, &end, 10);
  if (end == q || *end != '\0' || octave < -1 || octave > 9)
    return -1;
  long note = (octave + 1) * 12 + n; /* c4 = 60 */
  return note >= 0 && note <= 127 ? (int)note : -1;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || errno || !isfinite(v) || v < lo || v > hi)
    return 0;
  *out = v;
  return 1;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
  double v;
  if (!parse_double(s, (double)lo, (double)hi, &v))
    return 0;
  *out = lround(v);
  return 1;
}

/* ---- regions ----------------------------------------------------------------------------- */

static void region_defaults(sfz_region *r, region_extra *x)
{
  memset(r, 0, sizeof *r);
  r->lokey = 0;
  r->hikey = 127;
  r->lovel = 1;
  r->hivel = 127;
  r->pitch_keycenter = 60;
  r->pitch_keytrack = 100;
  r->seq_length = 1;
  r->seq_position = 1;
  r->loop_start = r->loop_end = -1;
  r->amp_veltrack = 100.0;
  r->sustain_pct = 100.0;
  r->release_s = 0.001;
  x->sw_last = -1;
  x->lorand_milli = 0;
  x->hirand_milli = 1000;
}

static const char *const ignored_opcodes[] = {
    /* understood, and deliberately without effect on a mono, dry, pedal-less rendering */
    "pan",
    "position",
    "width",
    "group",
    "off_by",
    "off_mode",
    "polyphony",
    "note_polyphony",
    "rt_decay",
    "hint_ram_based",
    "set_cc",
    "label_cc",
    "amp_velcurve",
    "sw_lokey",
    "sw_hikey",
    "sw_label",
    "locc",
    "hicc",
    "xfin_locc",
    "xfin_hicc",
    "xfout_locc",
    "xfout_hicc",
    "xfin_lovel",
    "xfin_hivel",
    "xfout_lovel",
    "xfout_hivel",
    "on_locc",
    "on_hicc",
    "fil_type",
    "cutoff",
    "resonance",
    "fil_veltrack",
    "fil_keytrack",
    "amplitude",
    "amplitude_oncc",
    "volume_oncc",
    "pan_oncc",
    "tune_oncc",
    "pitch_oncc",
    "output",
    "end",
    "count",
    "direction",
    "sw_vel",
    "ampeg_delay",
    "ampeg_start",
    "ampeg_vel2attack",
    "ampeg_vel2release",
    "ampeg_vel2decay",
    "ampeg_vel2sustain",
    "pitchlfo_depth",
    "pitchlfo_freq",
    "pitchlfo_delay",
    "amplfo_depth",
    "amplfo_freq",
    "global_label",
    "master_label",
    "group_label",
    "region_label",
    "note_offset",
    "octave_offset",
    "key_offset",
    "bend_up",
    "bend_down",
    "pitch_veltrack",
    "pitch_random",
    "amp_random",
    "delay",
    "delay_random",
    "sample_quality",
    "loop_crossfade",
    "ampeg_decay_shape",
    "ampeg_release_shape",
    "ampeg_attack_shape",
    "image",
    "lochan",
    "hichan",
    "lobend",
    "hibend",
    "sw_previous",
    "trigger_cc",
    "sequence",
};

static int known_opcode(const char *key)
{
  static const char *const handled[] = {
      "sample",         "lokey",       "hikey",         "key",           "pitch_keycenter",
      "pitch_keytrack", "lovel",       "hivel",         "seq_length",    "seq_position",
      "trigger",        "loop_mode",   "loopmode",      "loop_start",    "loopstart",
      "loop_end",       "loopend",     "offset",        "tune",          "pitch",
      "transpose",      "volume",      "gain",          "amp_veltrack",  "ampeg_attack",
      "ampeg_hold",     "ampeg_decay", "ampeg_sustain", "ampeg_release", "default_path",
      "sw_last",        "sw_default",  "lorand",        "hirand",
  };
  for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
    if (strcmp(key, handled[i]) == 0)
      return 1;
  /* modulation the renderer does not model: MIDI-controller, LFO, envelope-generator and
   * randomisation variants of any opcode (ampeg_attack_oncc100, lfo01_freq, offset_random) */
  if (strstr(key, "_oncc") || strstr(key, "_cc") || strstr(key, "_random") ||
      strncmp(key, "lfo", 3) == 0 || strncmp(key, "eg", 2) == 0 || strstr(key, "lfo_") ||
      strstr(key, "eg_") || strncmp(key, "fil", 3) == 0 || strncmp(key, "eq", 2) == 0)
    return 1;
  /* numbered families: amp_velcurve_64, locc64, set_cc7, label_cc7, xfin_locc1, ... */
  char base[64];
  size_t n = strlen(key);
  while (n > 0 && (isdigit((unsigned char)key[n - 1]) || key[n - 1] == '_'))
    n--;
  if (n == 0 || n >= sizeof base)
    return 0;
  memcpy(base, key, n);
  base[n] = '\0';
  for (size_t i = 0; i < sizeof ignored_opcodes / sizeof ignored_opcodes[0]; i++)
    if (strcmp(key, ignored_opcodes[i]) == 0 || strcmp(base, ignored_opcodes[i]) == 0)
      return 1;
  return 0;
}

static void warn_unknown(parser *p, const char *name, int line, const char *key)
{
  for (size_t i = 0; i < p->n_unknown; i++)
    if (strcmp(p->unknown[i], key) == 0)
      return;
  if (p->n_unknown < sizeof p->unknown / sizeof p->unknown[0])
    snprintf(p->unknown[p->n_unknown++], sizeof p->unknown[0], "%s", key);
  warn(p, name, line, "opcode '%s' not supported, ignored", key);
}

static long sample_index(parser *p, const char *rel)
{
  sfz_instrument *ins = p->ins;
  const char *prefix = list_get(&p->levels[LEVEL_CONTROL], "default_path");
  size_t need = strlen(p->dir) + (prefix ? strlen(prefix) : 0) + strlen(rel) + 3;
  char *path = malloc(need);
  if (!path)
    return -1;
  if (rel[0] == '/')
    snprintf(path, need, "%s", rel);
  else
    snprintf(path, need, "%s/%s%s", p->dir, prefix ? prefix : "", rel);
  for (char *c = path; *c; c++)
    if (*c == '\\')
      *c = '/';
  for (size_t i = 0; i < ins->n_samples; i++)
    if (strcmp(ins->sample_paths[i], path) == 0) {
      free(path);
      return (long)i;
    }
  if (ins->n_samples == ins->cap_samples) {
    size_t cap = ins->cap_samples ? 2 * ins->cap_samples : 32;
    char **paths = realloc(ins->sample_paths, cap * sizeof *paths);
    if (paths)
      ins->sample_paths = paths;
    sfz_sample *samples = paths ? realloc(ins->samples, cap * sizeof *samples) : NULL;
    if (!samples) {
      free(path);
      return -1;
    }
    ins->samples = samples;
    ins->cap_samples = cap;
  }
  ins->sample_paths[ins->n_samples] = path;
  memset(&ins->samples[ins->n_samples], 0, sizeof ins->samples[0]);
  return (long)ins->n_samples++;
}

/* Applies one opcode to a region being built; 0 when the value is malformed. */
static int apply(parser *p, sfz_region *r, region_extra *x, const char *key, const char *v,
                 int *has_sample)
{
  long l;
  double d;
  int note;
  if (strcmp(key, "sample") == 0) {
    if (v[0] == '*') {
      p->generator_sample = 1;
      *has_sample = 1;
      return 1;
    }
    p->generator_sample = 0;
    long s = sample_index(p, v);
    if (s < 0)
      return fail(p, "out of memory"), 1;
    r->sample = (size_t)s;
    *has_sample = 1;
  } else if (strcmp(key, "lokey") == 0 || strcmp(key, "hikey") == 0 || strcmp(key, "key") == 0 ||
             strcmp(key, "pitch_keycenter") == 0 || strcmp(key, "sw_last") == 0) {
    if ((note = sfz_parse_note(v)) < 0)
      return 0;
    if (key[0] == 'l')
      r->lokey = note;
    else if (key[0] == 'h')
      r->hikey = note;
    else if (key[0] == 'p')
      r->pitch_keycenter = note;
    else if (key[0] == 's')
      x->sw_last = note;
    else
      r->lokey = r->hikey = r->pitch_keycenter = note;
  } else if (strcmp(key, "pitch_keytrack") == 0) {
    if (!parse_long(v, -1200, 1200, &l))
      return 0;
    r->pitch_keytrack = (int)l;
  } else if (strcmp(key, "lovel") == 0 || strcmp(key, "hivel") == 0) {
    if (!parse_long(v, 0, 127, &l))
      return 0;
    *(key[0] == 'l' ? &r->lovel : &r->hivel) = (int)l;
  } else if (strcmp(key, "seq_length") == 0 || strcmp(key, "seq_position") == 0) {
    if (!parse_long(v, 1, 100, &l))
      return 0;
    *(key[4] == 'l' ? &r->seq_length : &r->seq_position) = (int)l;
  } else if (strcmp(key, "lorand") == 0 || strcmp(key, "hirand") == 0) {
    if (!parse_double(v, 0.0, 1.0, &d))
      return 0;
    *(key[0] == 'l' ? &x->lorand_milli : &x->hirand_milli) = (int)lround(d * 1000.0);
  } else if (strcmp(key, "trigger") == 0) {
    if (strcmp(v, "release") == 0 || strcmp(v, "release_key") == 0)
      r->trigger = SFZ_TRIGGER_RELEASE;
    else if (strcmp(v, "attack") == 0 || strcmp(v, "first") == 0 || strcmp(v, "legato") == 0)
      r->trigger = SFZ_TRIGGER_ATTACK;
    else
      return 0;
  } else if (strcmp(key, "loop_mode") == 0 || strcmp(key, "loopmode") == 0) {
    static const char *const modes[] = {"no_loop", "one_shot", "loop_continuous", "loop_sustain"};
    size_t m = 0;
    while (m < 4 && strcmp(v, modes[m]) != 0)
      m++;
    if (m == 4)
      return 0;
    r->loop_mode = (sfz_loop_mode)(m + 1);
  } else if (strcmp(key, "loop_start") == 0 || strcmp(key, "loopstart") == 0 ||
             strcmp(key, "loop_end") == 0 || strcmp(key, "loopend") == 0 ||
             strcmp(key, "offset") == 0) {
    if (!parse_long(v, 0, 1L << 40, &l))
      return 0;
    if (key[0] == 'o')
      r->offset = l;
    else if (key[4] == 's' || key[5] == 's')
      r->loop_start = l;
    else
      r->loop_end = l;
  } else if (strcmp(key, "tune") == 0 || strcmp(key, "pitch") == 0) {
    if (!parse_double(v, -9600.0, 9600.0, &d))
      return 0;
    r->tune_cents = d;
  } else if (strcmp(key, "transpose") == 0) {
    if (!parse_long(v, -127, 127, &l))
      return 0;
    r->transpose = (int)l;
  } else if (strcmp(key, "volume") == 0 || strcmp(key, "gain") == 0) {
    if (!parse_double(v, -144.0, 48.0, &d))
      return 0;
    r->volume_db = d;
  } else if (strcmp(key, "amp_veltrack") == 0) {
    if (!parse_double(v, -100.0, 100.0, &d))
      return 0;
    r->amp_veltrack = d;
  } else if (strncmp(key, "ampeg_", 6) == 0) {
    if (!parse_double(v, 0.0, 100.0, &d))
      return 0;
    if (strcmp(key, "ampeg_attack") == 0)
      r->attack_s = d;
    else if (strcmp(key, "ampeg_hold") == 0)
      r->hold_s = d;
    else if (strcmp(key, "ampeg_decay") == 0)
      r->decay_s = d;
    else if (strcmp(key, "ampeg_sustain") == 0)
      r->sustain_pct = d;
    else if (strcmp(key, "ampeg_release") == 0)
      r->release_s = d;
  }
  return 1;
}

/* Closes the open region: applies every level's opcodes in order and keeps it when it names a
 * sample. */
static void close_region(parser *p, const char *name)
{
  if (!p->in_region)
    return;
  p->in_region = 0;
  sfz_region r;
  region_extra x;
  region_defaults(&r, &x);
  int has_sample = 0;
  for (int lv = LEVEL_GLOBAL; lv <= LEVEL_REGION; lv++) {
    const opcode_list *l = &p->levels[lv];
    for (size_t i = 0; i < l->n && !p->failed; i++)
      if (!apply(p, &r, &x, l->items[i].key, l->items[i].value, &has_sample))
        warn(p, name, p->region_line, "%s=%s: value not understood, ignored", l->items[i].key,
             l->items[i].value);
  }
  list_clear(&p->levels[LEVEL_REGION]);
  if (p->failed)
    return;
  if (!has_sample) {
    warn(p, name, p->region_line, "region without a sample, ignored");
    return;
  }
  if (p->generator_sample) {
    p->generator_sample = 0;
    warn(p, name, p->region_line,
         "built-in generator samples (*sine, *noise...) not supported, "
         "region ignored");
    return;
  }
  if (r.lokey > r.hikey || r.lovel > r.hivel || r.seq_position > r.seq_length) {
    warn(p, name, p->region_line, "region can never play (empty key, velocity or seq range)");
    return;
  }
  sfz_instrument *ins = p->ins;
  if (ins->n_regions == ins->cap_regions) {
    size_t cap = ins->cap_regions ? 2 * ins->cap_regions : 64;
    sfz_region *regions = realloc(ins->regions, cap * sizeof *regions);
    if (regions)
      ins->regions = regions;
    region_extra *extra = regions ? realloc(ins->extra, cap * sizeof *extra) : NULL;
    if (!extra) {
      fail(p, "out of memory");
      return;
    }
    ins->extra = extra;
    ins->cap_regions = cap;
  }
  r.line = p->region_line;
  ins->regions[ins->n_regions] = r;
  ins->extra[ins->n_regions++] = x;
}

static void open_header(parser *p, const char *header, const char *name, int line)
{
  static const char *const names[N_LEVELS] = {"control", "global", "master", "group", "region"};
  int lv = 0;
  while (lv < N_LEVELS && strcmp(header, names[lv]) != 0)
    lv++;
  close_region(p, name);
  if (lv == N_LEVELS) {
    /* <curve>, <effect>, <midi>, <sample>: opcodes under them go nowhere */
    warn(p, name, line, "header <%s> not supported, its opcodes are ignored", header);
    p->level = -1;
    return;
  }
  /* a header starts its level afresh and clears the levels below it (control stays) */
  for (int k = lv; k < N_LEVELS; k++)
    if (k != LEVEL_CONTROL || lv == LEVEL_CONTROL)
      list_clear(&p->levels[k]);
  p->level = lv;
  if (lv == LEVEL_REGION) {
    p->in_region = 1;
    p->region_line = line;
  }
}

/* ---- text -------------------------------------------------------------------------------- */

static char *read_text(const char *path, char *errbuf, size_t errlen)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  /* The buffer grows with what is read (a fixed 16 MiB one per file cost 1 s per input under
   * the fuzzer when a file includes itself: tests/fuzz/corpus/sfz/slow-include-fanout). */
  size_t cap = 0, n = 0;
  char *text = NULL;
  int bad = 0;
  for (;;) {
    if (n == cap) {
      size_t want = cap ? 2 * cap : 4096;
      if (want > SFZ_MAX_FILE_BYTES + 1)
        want = SFZ_MAX_FILE_BYTES + 1;
      if (want <= cap)
        break; /* over the limit: reported below */
      char *grown = realloc(text, want + 1);
      if (!grown) {
        bad = 1;
        break;
      }
      text = grown;
      cap = want;
    }
    size_t got = fread(text + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
  }
  bad = bad || ferror(f);
  fclose(f);
  if (bad || n > SFZ_MAX_FILE_BYTES) {
    snprintf(errbuf, errlen, "%s: %s", path, bad ? "cannot read" : "larger than 16 MiB");
    free(text);
    return NULL;
  }
  text[n] = '\0';
  return text;
}

/* Replaces $NAME by its #define value (longest names first, so $A does not eat $AB). */
static char *substitute(parser *p, const char *line)
{
  size_t cap = strlen(line) * 2 + 64, n = 0;
  char *out = malloc(cap);
  if (!out)
    return NULL;
  for (const char *s = line; *s;) {
    size_t best = 0, best_len = 0;
    if (*s == '$')
      for (size_t i = 0; i < p->n_defines; i++) {
        size_t len = strlen(p->defines[i][0]);
        if (len > best_len && strncmp(s, p->defines[i][0], len) == 0) {
          best = i;
          best_len = len;
        }
      }
    const char *piece = best_len ? p->defines[best][1] : s;
    size_t piece_len = best_len ? strlen(piece) : 1;
    if (n + piece_len + 1 > cap) {
      cap = 2 * (n + piece_len + 1);
      char *grown = realloc(out, cap);
      if (!grown) {
        free(out);
        return NULL;
      }
      out = grown;
    }
    memcpy(out + n, piece, piece_len);
    n += piece_len;
    s += best_len ? best_len : 1;
  }
  out[n] = '\0';
  return out;
}

static int is_name_char(int c)
{
  return isalnum(c) || c == '_' || c == '$';
}

/* Start of the next `name=` or `<` after position i in line (n long: headers already read
 * have a NUL in place of their '>'), or n. */
static size_t value_end(const char *line, size_t i, size_t n)
{
  for (size_t k = i; k < n; k++) {
    if (!isspace((unsigned char)line[k]))
      continue;
    size_t j = k;
    while (j < n && isspace((unsigned char)line[j]))
      j++;
    if (line[j] == '<')
      return k;
    size_t m = j;
    while (m < n && is_name_char((unsigned char)line[m]))
      m++;
    if (m > j && line[m] == '=')
      return k;
  }
  return n;
}

static int parse_file(parser *p, const char *path, int depth);

static void parse_line(parser *p, char *raw, const char *name, int line, int depth)
{
  char *text = substitute(p, raw);
  if (!text) {
    fail(p, "out of memory");
    return;
  }
  size_t n = strlen(text), i = 0;
  int bad_token_seen = 0;
  while (i < n && !p->failed) {
    while (i < n && isspace((unsigned char)text[i]))
      i++;
    if (i >= n)
      break;
    if (text[i] == '<') {
      char *close = strchr(text + i, '>');
      if (!close) {
        warn(p, name, line, "header '%s' has no closing '>', line ignored", text + i);
        break;
      }
      *close = '\0';
      open_header(p, text + i + 1, name, line);
      i = (size_t)(close - text) + 1;
      continue;
    }
    if (text[i] == '#') {
      char word[16] = "";
      sscanf(text + i, "#%15s", word);
      if (strcmp(word, "define") == 0) {
        char key[128], value[512];
        if (sscanf(text + i, "#define %127s %511s", key, value) != 2 || key[0] != '$') {
          warn(p, name, line, "malformed #define, ignored");
        } else if (p->n_defines < SFZ_MAX_DEFINES) {
          p->defines[p->n_defines][0] = strdup(key);
          p->defines[p->n_defines][1] = strdup(value);
          if (!p->defines[p->n_defines][0] || !p->defines[p->n_defines][1])
            fail(p, "out of memory");
          p->n_defines++;
        }
      } else if (strcmp(word, "include") == 0) {
        char *q1 = strchr(text + i, '"');
        char *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
        if (!q2) {
          warn(p, name, line, "malformed #include, ignored");
        } else if (depth >= SFZ_MAX_INCLUDE_DEPTH) {
          warn(p, name, line, "#include nested deeper than %d, ignored", SFZ_MAX_INCLUDE_DEPTH);
        } else if (p->n_includes >= SFZ_MAX_INCLUDES) {
          warn(p, name, line, "more than %d #include files in one instrument, ignored",
               SFZ_MAX_INCLUDES);
        } else {
          p->n_includes++;
          *q2 = '\0';
          size_t need = strlen(p->dir) + strlen(q1 + 1) + 2;
          char *inc = malloc(need);
          if (!inc) {
            fail(p, "out of memory");
          } else {
            snprintf(inc, need, "%s/%s", p->dir, q1 + 1);
            if (parse_file(p, inc, depth + 1) != 0 && !p->failed)
              warn(p, name, line, "#include \"%s\": %s", q1 + 1, p->errbuf ? p->errbuf : "");
            free(inc);
          }
        }
      } else {
        warn(p, name, line, "directive '#%s' not supported, ignored", word);
      }
      break;
    }
    size_t k = i;
    while (k < n && is_name_char((unsigned char)text[k]))
      k++;
    if (k == i || text[k] != '=') {
      size_t e = i;
      while (e < n && !isspace((unsigned char)text[e]))
        e++;
      if (!bad_token_seen) /* one warning per line is enough */
        warn(p, name, line, "'%.*s' is not opcode=value, ignored", (int)(e - i), text + i);
      bad_token_seen = 1;
      i = e;
      continue;
    }
    size_t end = value_end(text, k + 1, n);
    size_t vend = end;
    while (vend > k + 1 && isspace((unsigned char)text[vend - 1]))
      vend--;
    char *key = dup_range(text + i, k - i);
    char *value = dup_range(text + k + 1, vend - (k + 1));
    if (!key || !value) {
      fail(p, "out of memory");
    } else if (p->level < 0) {
      /* under an unsupported header */
    } else if (!known_opcode(key)) {
      warn_unknown(p, name, line, key);
    } else if (value[0] == '\0') {
      warn(p, name, line, "%s has no value, ignored", key);
    } else if (strcmp(key, "sw_default") == 0) {
      int note = sfz_parse_note(value);
      if (note < 0)
        warn(p, name, line, "sw_default=%s: not a note, ignored", value);
      else
        p->ins->sw_default = note;
    } else if (list_set(&p->levels[p->level], key, value) != 0) {
      fail(p, "out of memory");
    }
    free(key);
    free(value);
    i = end;
  }
  free(text);
}

static int parse_text(parser *p, char *text, const char *name, int depth)
{
  int line = 1, in_block = 0;
  char *s = text;
  while (*s && !p->failed) {
    char *eol = strpbrk(s, "\r\n");
    char *next = eol ? eol + 1 : s + strlen(s);
    if (eol) {
      if (*eol == '\r' && *next == '\n')
        next++;
      *eol = '\0';
    }
    /* comments: // to the end of the line, block comments across lines */
    char *w = s;
    for (char *r = s; *r;) {
      if (in_block) {
        if (r[0] == '*' && r[1] == '/') {
          in_block = 0;
          r += 2;
        } else {
          r++;
        }
      } else if (r[0] == '/' && r[1] == '/') {
        break;
      } else if (r[0] == '/' && r[1] == '*') {
        in_block = 1;
        r += 2;
      } else {
        *w++ = *r++;
      }
    }
    *w = '\0';
    parse_line(p, s, name, line, depth);
    line++;
    s = next;
  }
  return p->failed ? -1 : 0;
}

static int parse_file(parser *p, const char *path, int depth)
{
  char *text = read_text(path, p->errbuf, p->errlen);
  if (!text)
    return -1;
  int r = parse_text(p, text, path, depth);
  free(text);
  return r;
}

static sfz_instrument *finish(parser *p, const char *name, int ok)
{
  sfz_instrument *ins = p->ins;
  if (ok && !p->failed)
    close_region(p, name);
  for (int k = 0; k < N_LEVELS; k++)
    list_clear(&p->levels[k]);
  for (size_t i = 0; i < p->n_defines; i++) {
    free(p->defines[i][0]);
    free(p->defines[i][1]);
  }
  free(p->dir);
  if (p->n_warnings > SFZ_MAX_WARNINGS_SHOWN && p->warn && p->warn_used + 1 < p->warnlen)
    snprintf(p->warn + p->warn_used, p->warnlen - p->warn_used, "%s: %zu warnings in all\n", name,
             p->n_warnings);
  if (!ok || p->failed) {
    sfz_free(ins);
    return NULL;
  }
  if (ins->n_regions == 0) {
    if (p->errbuf)
      snprintf(p->errbuf, p->errlen, "%s: no region names a sample", name);
    sfz_free(ins);
    return NULL;
  }
  /* the keyswitch notes are played with: sw_default, else the lowest sw_last used */
  if (ins->sw_default < 0)
    for (size_t i = 0; i < ins->n_regions; i++)
      if (ins->extra[i].sw_last >= 0 &&
          (ins->sw_default < 0 || ins->extra[i].sw_last < ins->sw_default))
        ins->sw_default = ins->extra[i].sw_last;
  return ins;
}

static sfz_instrument *begin(parser *p, const char *name, const char *dir, char *errbuf,
                             size_t errlen, char *warnbuf, size_t warnlen)
{
  memset(p, 0, sizeof *p);
  p->errbuf = errbuf;
  p->errlen = errlen;
  p->warn = warnbuf;
  p->warnlen = warnlen;
  if (warnbuf && warnlen)
    warnbuf[0] = '\0';
  p->level = LEVEL_REGION; /* opcodes before any header: treat as a region's */
  p->ins = calloc(1, sizeof *p->ins);
  p->dir = strdup(dir && *dir ? dir : ".");
  if (p->ins)
    p->ins->name = strdup(name);
  if (!p->ins || !p->dir || !p->ins->name) {
    if (errbuf)
      snprintf(errbuf, errlen, "out of memory");
    free(p->dir);
    if (p->ins)
      free(p->ins->name);
    free(p->ins);
    return NULL;
  }
  p->ins->sw_default = -1;
  pthread_mutex_init(&p->ins->lock, NULL);
  return p->ins;
}

sfz_instrument *sfz_parse(const char *text, const char *name, const char *dir, char *errbuf,
                          size_t errlen, char *warnbuf, size_t warnlen)
{
  parser p;
  if (!begin(&p, name, dir, errbuf, errlen, warnbuf, warnlen))
    return NULL;
  char *copy = strdup(text);
  if (!copy) {
    fail(&p, "out of memory");
    return finish(&p, name, 0);
  }
  int r = parse_text(&p, copy, name, 0);
  free(copy);
  sfz_instrument *ins = finish(&p, name, r == 0);
  return ins;
}

sfz_instrument *sfz_load(const char *path, char *errbuf, size_t errlen, char *warnbuf,
                         size_t warnlen)
{
  char *text = read_text(path, errbuf, errlen);
  if (!text)
    return NULL;
  char *dir = strdup(path);
  if (!dir) {
    free(text);
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  else
    strcpy(dir, ".");
  sfz_instrument *ins = sfz_parse(text, path, dir, errbuf, errlen, warnbuf, warnlen);
  free(dir);
  free(text);
  return ins;
}

void sfz_free(sfz_instrument *ins)
{
  if (!ins)
    return;
  for (size_t i = 0; i < ins->n_samples; i++) {
    free(ins->sample_paths[i]);
    free(ins->samples[i].x);
  }
  free(ins->sample_paths);
  free(ins->samples);
  free(ins->regions);
  free(ins->extra);
  free(ins->name);
  pthread_mutex_destroy(&ins->lock);
  free(ins);
}

size_t sfz_n_regions(const sfz_instrument *ins)
{
  return ins->n_regions;
}

const sfz_region *sfz_region_at(const sfz_instrument *ins, size_t i)
{
  return i < ins->n_regions ? &ins->regions[i] : NULL;
}

const char *sfz_sample_path(const sfz_instrument *ins, size_t sample)
{
  return sample < ins->n_samples ? ins->sample_paths[sample] : NULL;
}

const char *sfz_name(const sfz_instrument *ins)
{
  return ins->name;
}

void sfz_key_range(const sfz_instrument *ins, int *lo, int *hi)
{
  *lo = 127;
  *hi = 0;
  for (size_t i = 0; i < ins->n_regions; i++)
    if (ins->regions[i].trigger == SFZ_TRIGGER_ATTACK) {
      *lo = ins->regions[i].lokey < *lo ? ins->regions[i].lokey : *lo;
      *hi = ins->regions[i].hikey > *hi ? ins->regions[i].hikey : *hi;
    }
}

/* A value in [0, 1000) that is the same for every region of one note (lorand/hirand). */
static int note_random_milli(uint64_t seq, int key)
{
  uint64_t z = seq * 0x9e3779b97f4a7c15ull + (uint64_t)key * 0xbf58476d1ce4e5b9ull + 1;
  z = (z ^ (z >> 31)) * 0x94d049bb133111ebull;
  return (int)((z >> 33) % 1000);
}

size_t sfz_match(const sfz_instrument *ins, int key, int velocity, sfz_trigger trigger,
                 uint64_t seq, size_t *out, size_t max)
{
  size_t n = 0;
  int rnd = note_random_milli(seq, key);
  for (size_t i = 0; i < ins->n_regions && n < max; i++) {
    const sfz_region *r = &ins->regions[i];
    const region_extra *x = &ins->extra[i];
    if (r->trigger != trigger || key < r->lokey || key > r->hikey || velocity < r->lovel ||
        velocity > r->hivel)
      continue;
    if ((int)(seq % (uint64_t)r->seq_length) + 1 != r->seq_position)
      continue;
    if (rnd < x->lorand_milli || rnd >= x->hirand_milli)
      continue;
    if (x->sw_last >= 0 && x->sw_last != ins->sw_default)
      continue;
    out[n++] = i;
  }
  return n;
}

/* ---- playing ----------------------------------------------------------------------------- */

double sfz_envelope(const sfz_region *r, double t, double off)
{
  if (t < 0)
    return 0.0;
  double sustain = r->sustain_pct / 100.0;
  /* level while held, at time u after note-on */
#define HELD(u)                                                                                    \
  ((u) < r->attack_s               ? (u) / r->attack_s                                             \
   : (u) < r->attack_s + r->hold_s ? 1.0                                                           \
   : (u) < r->attack_s + r->hold_s + r->decay_s                                                    \
       ? 1.0 - (1.0 - sustain) * ((u)-r->attack_s - r->hold_s) / r->decay_s                        \
       : sustain)
  if (off < 0 || t < off)
    return HELD(t);
  double release = r->release_s > SFZ_MIN_RELEASE_S ? r->release_s : SFZ_MIN_RELEASE_S;
  double from = HELD(off);
  double u = (t - off) / release;
  return u >= 1.0 ? 0.0 : from * (1.0 - u);
#undef HELD
}

/* The file's own sample rate from a WAV or FLAC header; 0 when the format is another. */
static double native_rate(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return 0.0;
  unsigned char h[64];
  size_t n = fread(h, 1, sizeof h, f);
  fclose(f);
  if (n >= 28 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WAVE", 4) == 0 &&
      memcmp(h + 12, "fmt ", 4) == 0)
    return (double)(h[24] | h[25] << 8 | h[26] << 16 | (uint32_t)h[27] << 24);
  if (n >= 21 && memcmp(h, "fLaC", 4) == 0) /* STREAMINFO: 20-bit rate at byte 18 */
    return (double)((uint32_t)h[18] << 12 | (uint32_t)h[19] << 4 | h[20] >> 4);
  return 0.0;
}

/* The decoded sample, decoding it on first use. NULL with errbuf when it cannot be read. */
static const sfz_sample *get_sample(sfz_instrument *ins, size_t s, int rate_hz, char *errbuf,
                                    size_t errlen)
{
  pthread_mutex_lock(&ins->lock);
  sfz_sample *smp = &ins->samples[s];
  if (!smp->x && !smp->failed) {
    float *x = NULL;
    size_t frames = 0;
    if (audio_decode_file(ins->sample_paths[s], rate_hz, 1, &x, &frames, errbuf, errlen) != 0) {
      smp->failed = 1;
    } else {
      double own = native_rate(ins->sample_paths[s]);
      smp->x = x;
      smp->frames = frames;
      smp->rate_scale = own > 0 ? rate_hz / own : 1.0;
    }
  }
  const sfz_sample *out = smp->failed ? NULL : smp;
  pthread_mutex_unlock(&ins->lock);
  return out;
}

/* Adds one region's voice: note-on at frame `on`, note-off at `off` (frames, may be beyond the
 * buffer). */
static void play_voice(const sfz_region *r, const sfz_sample *smp, int key, int velocity, double on,
                       double off, float *out, size_t frames, int rate_hz)
{
  double cents =
      (key - r->pitch_keycenter) * (double)r->pitch_keytrack + r->tune_cents + 100.0 * r->transpose;
  double step = pow(2.0, cents / 1200.0);
  /* amp_veltrack a: a quadratic velocity curve mixed with a flat one, by |a| (inverted below 0) */
  double vel = velocity / 127.0, a = r->amp_veltrack / 100.0;
  double curve = a >= 0 ? vel * vel : (1.0 - vel) * (1.0 - vel);
  double gain = pow(10.0, r->volume_db / 20.0) * ((1.0 - fabs(a)) + fabs(a) * curve);
  double scale = smp->rate_scale;
  double start = (double)r->offset * scale;
  double loop_a = r->loop_start >= 0 ? (double)r->loop_start * scale : 0.0;
  double loop_b = r->loop_end >= 0 ? (double)(r->loop_end + 1) * scale : (double)smp->frames;
  if (loop_b > (double)smp->frames)
    loop_b = (double)smp->frames;
  int loops = (r->loop_mode == SFZ_LOOP_CONTINUOUS || r->loop_mode == SFZ_LOOP_SUSTAIN) &&
              r->loop_end >= 0 && loop_b - loop_a > 16.0;
  int one_shot = r->loop_mode == SFZ_ONE_SHOT;
  double release = r->release_s > SFZ_MIN_RELEASE_S ? r->release_s : SFZ_MIN_RELEASE_S;
  double off_s = one_shot ? -1.0 : (off - on) / rate_hz;
  double stop = one_shot ? (double)frames : off + release * rate_hz;
  double pos = start;
  size_t i0 = on < 0 ? 0 : (size_t)ceil(on);
  /* frames before the buffer still advance the read position */
  if (on < 0)
    pos += -on * step;
  for (size_t i = i0; i < frames && (double)i < stop; i++) {
    /* wrap one frame early: the interpolation reads the frame after pos */
    if (loops && pos >= loop_b - 1.0 && (r->loop_mode == SFZ_LOOP_CONTINUOUS || (double)i < off))
      pos = loop_a + fmod(pos - loop_a, loop_b - loop_a);
    if (pos >= (double)smp->frames - 1)
      break;
    size_t k = (size_t)pos;
    double frac = pos - (double)k;
    double v = smp->x[k] + frac * (smp->x[k + 1] - smp->x[k]);
    double env = sfz_envelope(r, ((double)i - on) / rate_hz, off_s);
    float y = (float)(v * gain * env);
    out[2 * i] += y;
    out[2 * i + 1] += y;
    pos += step;
  }
}

long sfz_render_part(sfz_instrument *ins, const smf_note *notes, size_t n_notes, double t0_s,
                     float *out, size_t frames, int rate_hz, uint8_t *played, char *errbuf,
                     size_t errlen)
{
  long n_played = 0;
  size_t failures = 0, match[16];
  for (size_t i = 0; i < n_notes; i++) {
    played[i] = 0;
    const smf_note *nt = &notes[i];
    if (nt->end_s < 0)
      continue;
    double on = (nt->start_s - t0_s) * rate_hz;
    double off = (nt->end_s - t0_s) * rate_hz;
    if (off <= 0 || on >= (double)frames)
      continue;
    int vel = nt->velocity ? nt->velocity : 100;
    size_t m = sfz_match(ins, nt->pitch, vel, SFZ_TRIGGER_ATTACK, i, match, 16);
    int sounded = 0;
    for (size_t k = 0; k < m; k++) {
      const sfz_region *r = &ins->regions[match[k]];
      const sfz_sample *smp = get_sample(ins, r->sample, rate_hz, errbuf, errlen);
      if (!smp) {
        failures++;
        continue;
      }
      play_voice(r, smp, nt->pitch, vel, on, off, out, frames, rate_hz);
      sounded = 1;
    }
    if (sounded) {
      played[i] = 1;
      n_played++;
    }
    size_t mr = sfz_match(ins, nt->pitch, vel, SFZ_TRIGGER_RELEASE, i, match, 16);
    for (size_t k = 0; k < mr && off < (double)frames && sounded; k++) {
      const sfz_region *r = &ins->regions[match[k]];
      const sfz_sample *smp = get_sample(ins, r->sample, rate_hz, errbuf, errlen);
      if (!smp)
        continue;
      /* a release sample sounds from the note-off to its own end */
      play_voice(r, smp, nt->pitch, vel, off, (double)frames + 1e9, out, frames, rate_hz);
    }
  }
  /* a sample that cannot be read leaves its regions silent (and its notes unlabelled); only
   * when nothing at all could sound is it an error */
  return n_played == 0 && failures > 0 ? -1 : n_played;
}
