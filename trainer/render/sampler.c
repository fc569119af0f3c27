/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sampler.c — Philharmonia note sampler and Hydrogen drum kits for the corpus renderer. */
#include "sampler.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio.h"
#include "classes.h"
#include "rng.h"
#include "util.h"

typedef struct {
  char *path;
  int cls;
  int note;    /* MIDI note of the recording */
  double hz;   /* its pitch as data.csv states it */
  int dynamic; /* 0 molto-pianissimo .. 6 fortissimo */
  int phrase;  /* a melodic passage rather than one note */
} phil_entry;

/* Drum sounds a kit instrument can stand for, by its name. */
enum {
  DK_NONE = -1,
  DK_KICK,
  DK_SNARE,
  DK_SIDESTICK,
  DK_CLAP,
  DK_TOM_LOW,
  DK_TOM_MID,
  DK_TOM_HIGH,
  DK_HH_CLOSED,
  DK_HH_PEDAL,
  DK_HH_OPEN,
  DK_CRASH,
  DK_RIDE,
  DK_RIDE_BELL,
  DK_CHINA,
  DK_SPLASH,
  DK_COWBELL,
  DK_TAMBOURINE,
  DK_COUNT
};

typedef struct {
  char *path;
  float lo, hi, gain; /* velocity range in [0, 1] */
} kit_layer;

typedef struct {
  int category;
  kit_layer *layers;
  size_t n_layers;
} kit_instrument;

typedef struct {
  char name[128];
  kit_instrument *inst;
  size_t n_inst;
} drumkit;

typedef struct {
  char *path;
  float *data;
  size_t frames;
  int channels;
} cached_sample;

struct sample_library {
  phil_entry *phil;
  size_t n_phil;
  drumkit *kits;
  size_t n_kits;
  pthread_mutex_t lock; /* guards the cache below */
  cached_sample *cache;
  size_t n_cache, cap_cache, cache_bytes, cache_max_bytes;
};

/* ---------------------------------------------------------------------------------------- */

double sampler_pitch_ratio(int target_note, double source_hz)
{
  return 440.0 * pow(2.0, (target_note - 69) / 12.0) / source_hz;
}

size_t sampler_resample(const float *src, size_t n_src, double start, double ratio, float *dst,
                        size_t n_dst)
{
  size_t inside = 0;
  for (size_t i = 0; i < n_dst; i++) {
    double pos = start + (double)i * ratio;
    if (pos < 0.0 || pos > (double)n_src - 1.0) {
      dst[i] = 0.0f;
      continue;
    }
    size_t k = (size_t)pos;
    double f = pos - (double)k;
    double xm1 = k > 0 ? src[k - 1] : src[k];
    double x0 = src[k];
    double x1 = k + 1 < n_src ? src[k + 1] : src[k];
    double x2 = k + 2 < n_src ? src[k + 2] : x1;
    /* Catmull-Rom: passes through the samples, continuous first derivative */
    double c1 = 0.5 * (x1 - xm1), c2 = xm1 - 2.5 * x0 + 2.0 * x1 - 0.5 * x2;
    double c3 = 0.5 * (x2 - xm1) + 1.5 * (x0 - x1);
    dst[i] = (float)(((c3 * f + c2) * f + c1) * f + x0);
    inside++;
  }
  return inside;
}

/* ---------------------------------------------------------------------------------------- */
/* Philharmonia data.csv */

static int phil_class(const char *instrument)
{
  static const struct {
    const char *name;
    int cls;
  } map[] = {
      {"violin", TAX_VIOLIN},     {"viola", TAX_VIOLA},           {"cello", TAX_CELLO},
      {"double bass", TAX_BASS},  {"guitar", TAX_GUITAR},         {"banjo", TAX_BANJO},
      {"mandolin", TAX_MANDOLIN}, {"flute", TAX_FLUTE},           {"oboe", TAX_OBOE},
      {"cor anglais", TAX_OBOE},  {"clarinet", TAX_CLARINET},     {"bass clarinet", TAX_CLARINET},
      {"bassoon", TAX_BASSOON},   {"contrabassoon", TAX_BASSOON}, {"saxophone", TAX_SAXOPHONE},
      {"french horn", TAX_HORN},  {"trumpet", TAX_TRUMPET},       {"trombone", TAX_TROMBONE},
  };
  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if (strcmp(map[i].name, instrument) == 0)
      return map[i].cls;
  return -1; /* tuba and the percussion have no class of their own */
}

static int dynamic_level(const char *d)
{
  static const char *names[] = {"molto-pianissimo", "pianissimo", "piano",     "mezzo-piano",
                                "mezzo-forte",      "forte",      "fortissimo"};
  for (int i = 0; i < 7; i++)
    if (strcmp(d, names[i]) == 0)
      return i;
  return 4; /* crescendi and the like: call them mezzo-forte */
}

static int note_number(const char *name, const char *octave)
{
  static const int pc_of[7] = {9, 11, 0, 2, 4, 5, 7}; /* A B C D E F G */
  if (!name[0] || name[0] < 'A' || name[0] > 'G' || !octave[0])
    return -1;
  int pc = pc_of[name[0] - 'A'];
  if (name[1] == '#' || name[1] == 's')
    pc++;
  else if (name[1] == 'b')
    pc--;
  return 12 * ((int)atof(octave) + 1) + pc;
}

static int load_philharmonia(sample_library *lib, const char *dir, char *errbuf, size_t errlen)
{
  char path[4096];
  render_path(path, sizeof(path), "%s/data.csv", dir);
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(errbuf, errlen, "%.300s: cannot open", path);
    return -1;
  }
  char line[2048];
  size_t cap = 0;
  int lineno = 0;
  while (fgets(line, sizeof(line), f)) {
    if (lineno++ == 0)
      continue;
    line[strcspn(line, "\r\n")] = '\0';
    char *field[12];
    int n = 0;
    for (char *p = line; n < 12;) {
      field[n++] = p;
      char *c = strchr(p, ',');
      if (!c)
        break;
      *c = '\0';
      p = c + 1;
    }
    if (n < 12)
      continue;
    int cls = phil_class(field[5]);
    int note = note_number(field[6], field[7]);
    double hz = atof(field[8]);
    if (cls < 0 || note < 0 || hz <= 0.0)
      continue;
    const char *style = field[11];
    int phrase = strcmp(field[9], "phrase") == 0;
    /* notes whose pitch moves or is not the written one would be mislabelled by pitch shifting */
    if (!phrase && (strstr(style, "gliss") || strstr(style, "trill") || strstr(style, "harmonic")))
      continue;
    render_path(path, sizeof(path), "%s/%s", dir, field[1]);
    if (access(path, R_OK) != 0)
      continue; /* data.csv lists files the collection leaves out */
    if (lib->n_phil == cap) {
      cap = cap ? cap * 2 : 1024;
      phil_entry *p = realloc(lib->phil, cap * sizeof(phil_entry));
      if (!p)
        goto nomem;
      lib->phil = p;
    }
    phil_entry *e = &lib->phil[lib->n_phil];
    e->path = strdup(path);
    if (!e->path)
      goto nomem;
    e->cls = cls;
    e->note = note;
    e->hz = hz;
    e->dynamic = dynamic_level(field[10]);
    e->phrase = phrase;
    lib->n_phil++;
  }
  fclose(f);
  return 0;
nomem:
  fclose(f);
  snprintf(errbuf, errlen, "out of memory");
  return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Hydrogen drumkit.xml: just enough XML for <instrument><name>, <layer><filename|min|max|gain> */

static int drum_category(const char *name)
{
  char s[256];
  size_t i = 0;
  for (; name[i] && i < sizeof(s) - 1; i++)
    s[i] = (char)tolower((unsigned char)name[i]);
  s[i] = '\0';
  if (strstr(s, "kick") || strstr(s, "bass drum") || strstr(s, "bassdrum"))
    return DK_KICK;
  if (strstr(s, "hat") || strstr(s, "hh")) {
    if (strstr(s, "pedal") || strstr(s, " pd") || strstr(s, "foot"))
      return DK_HH_PEDAL;
    if (strstr(s, "open") || strstr(s, " op") || strstr(s, "semi"))
      return DK_HH_OPEN;
    if (strstr(s, "swish") || strstr(s, "choke") || strstr(s, "free") || strstr(s, "side"))
      return DK_NONE;
    return DK_HH_CLOSED;
  }
  if (strstr(s, "snare")) {
    if (strstr(s, "roll"))
      return DK_NONE; /* a roll is a phrase, not one hit */
    return DK_SNARE;
  }
  if (strstr(s, "stick") || strstr(s, "rim"))
    return DK_SIDESTICK;
  if (strstr(s, "clap"))
    return DK_CLAP;
  if (strstr(s, "tom")) {
    if (strstr(s, "floor") || strstr(s, "low"))
      return DK_TOM_LOW;
    if (strstr(s, "hi") || strstr(s, "tom 1"))
      return DK_TOM_HIGH;
    return DK_TOM_MID;
  }
  if (strstr(s, "china"))
    return DK_CHINA;
  if (strstr(s, "splash"))
    return strstr(s, "choke") ? DK_NONE : DK_SPLASH;
  if (strstr(s, "ride") && (strstr(s, "bell") || strstr(s, "cup")))
    return DK_RIDE_BELL;
  if (strstr(s, "crash") || strstr(s, "cymbal"))
    return strstr(s, "flink") ? DK_NONE : DK_CRASH;
  if (strstr(s, "ride"))
    return strstr(s, "flink") ? DK_NONE : DK_RIDE;
  if (strstr(s, "cowbell"))
    return DK_COWBELL;
  if (strstr(s, "tamb"))
    return strstr(s, "pedal") ? DK_NONE : DK_TAMBOURINE;
  return DK_NONE;
}

/* Copies the text of the first <tag>...</tag> in [p, end) into out, decoding the five XML
 * entities; returns a pointer past the closing tag or NULL. */
static const char *xml_text(const char *p, const char *end, const char *tag, char *out,
                            size_t out_len)
{
  char open[64], close[64];
  snprintf(open, sizeof(open), "<%s>", tag);
  snprintf(close, sizeof(close), "</%s>", tag);
  const char *a = strstr(p, open);
  if (!a || a >= end)
    return NULL;
  a += strlen(open);
  const char *b = strstr(a, close);
  if (!b || b > end)
    return NULL;
  size_t n = 0;
  while (a < b && n + 1 < out_len) {
    static const struct {
      const char *ent;
      char c;
    } ents[] = {{"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}, {"&lt;", '<'}, {"&gt;", '>'}};
    int matched = 0;
    for (size_t k = 0; k < 5 && *a == '&'; k++) {
      size_t l = strlen(ents[k].ent);
      if ((size_t)(b - a) >= l && strncmp(a, ents[k].ent, l) == 0) {
        out[n++] = ents[k].c;
        a += l;
        matched = 1;
        break;
      }
    }
    if (!matched)
      out[n++] = *a++;
  }
  out[n] = '\0';
  return b + strlen(close);
}

static char *read_text_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = size >= 0 && size < (16L << 20) ? malloc((size_t)size + 1) : NULL;
  if (s && fread(s, 1, (size_t)size, f) != (size_t)size) {
    free(s);
    s = NULL;
  }
  if (s)
    s[size] = '\0';
  fclose(f);
  return s;
}

static int add_layer(kit_instrument *in, const char *path, float lo, float hi, float gain)
{
  kit_layer *l = realloc(in->layers, (in->n_layers + 1) * sizeof(kit_layer));
  if (!l)
    return 0;
  in->layers = l;
  l[in->n_layers].path = strdup(path);
  if (!l[in->n_layers].path)
    return 0;
  l[in->n_layers].lo = lo;
  l[in->n_layers].hi = hi;
  l[in->n_layers].gain = gain;
  in->n_layers++;
  return 1;
}

static void free_kit(drumkit *k)
{
  for (size_t i = 0; i < k->n_inst; i++) {
    for (size_t j = 0; j < k->inst[i].n_layers; j++)
      free(k->inst[i].layers[j].path);
    free(k->inst[i].layers);
  }
  free(k->inst);
}

/* Parses one kit; 1 when it has at least a kick, a snare and a closed hi-hat (a drum set). */
static int load_kit(drumkit *kit, const char *kit_dir, const char *kit_name)
{
  char path[4096], text[1024], file[2048];
  memset(kit, 0, sizeof(*kit));
  snprintf(kit->name, sizeof(kit->name), "%s", kit_name);
  render_path(path, sizeof(path), "%s/drumkit.xml", kit_dir);
  char *xml = read_text_file(path);
  if (!xml)
    return 0;
  const char *list = strstr(xml, "<instrumentList>");
  const char *p = list ? list : xml;
  int have[DK_COUNT] = {0};
  for (;;) {
    const char *a = strstr(p, "<instrument>");
    if (!a)
      break;
    const char *b = strstr(a, "</instrument>");
    if (!b)
      break;
    p = b + 13;
    if (!xml_text(a, b, "name", text, sizeof(text)))
      continue;
    int cat = drum_category(text);
    if (cat == DK_NONE)
      continue;
    kit_instrument in = {cat, NULL, 0};
    const char *q = a;
    int ok = 1;
    for (;;) { /* every <layer> block, or bare <filename>s in the oldest format */
      const char *la = strstr(q, "<layer>");
      if (!la || la > b)
        break;
      const char *lb = strstr(la, "</layer>");
      if (!lb || lb > b)
        break;
      q = lb + 8;
      if (!xml_text(la, lb, "filename", text, sizeof(text)))
        continue;
      render_path(file, sizeof(file), "%s/%s", kit_dir, text);
      float lo = 0, hi = 1, gain = 1;
      if (xml_text(la, lb, "min", text, sizeof(text)))
        lo = (float)atof(text);
      if (xml_text(la, lb, "max", text, sizeof(text)))
        hi = (float)atof(text);
      if (xml_text(la, lb, "gain", text, sizeof(text)))
        gain = (float)atof(text);
      if (access(file, R_OK) == 0 && !add_layer(&in, file, lo, hi, gain))
        ok = 0;
    }
    if (in.n_layers == 0 && xml_text(a, b, "filename", text, sizeof(text))) {
      render_path(file, sizeof(file), "%s/%s", kit_dir, text);
      if (access(file, R_OK) == 0 && !add_layer(&in, file, 0, 1, 1))
        ok = 0;
    }
    if (in.n_layers == 0 || !ok) {
      for (size_t j = 0; j < in.n_layers; j++)
        free(in.layers[j].path);
      free(in.layers);
      continue;
    }
    kit_instrument *ni = realloc(kit->inst, (kit->n_inst + 1) * sizeof(kit_instrument));
    if (!ni) {
      for (size_t j = 0; j < in.n_layers; j++)
        free(in.layers[j].path);
      free(in.layers);
      break;
    }
    kit->inst = ni;
    kit->inst[kit->n_inst++] = in;
    have[cat] = 1;
  }
  free(xml);
  if (!have[DK_KICK] || !have[DK_SNARE] || !have[DK_HH_CLOSED]) {
    free_kit(kit);
    return 0;
  }
  return 1;
}

static void load_kits(sample_library *lib, const char *dir)
{
  char **names = NULL;
  size_t n = 0;
  if (render_list_dir(dir, NULL, &names, &n) != 0) /* sorted: kit indices are stable */
    return;
  lib->kits = calloc(n ? n : 1, sizeof(drumkit));
  for (size_t i = 0; lib->kits && i < n; i++) {
    char kit_dir[4096];
    render_path(kit_dir, sizeof(kit_dir), "%s/%s", dir, names[i]);
    if (load_kit(&lib->kits[lib->n_kits], kit_dir, names[i]))
      lib->n_kits++;
  }
  render_free_names(names, n);
}

sample_library *sample_library_open(const char *philharmonia_dir, const char *drumkits_dir,
                                    size_t cache_mb, char *errbuf, size_t errlen)
{
  sample_library *lib = calloc(1, sizeof(*lib));
  if (!lib) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&lib->lock, NULL);
  lib->cache_max_bytes = cache_mb << 20;
  if (philharmonia_dir && load_philharmonia(lib, philharmonia_dir, errbuf, errlen) != 0) {
    sample_library_free(lib);
    return NULL;
  }
  if (drumkits_dir)
    load_kits(lib, drumkits_dir);
  return lib;
}

void sample_library_free(sample_library *lib)
{
  if (!lib)
    return;
  for (size_t i = 0; i < lib->n_phil; i++)
    free(lib->phil[i].path);
  free(lib->phil);
  for (size_t i = 0; i < lib->n_kits; i++)
    free_kit(&lib->kits[i]);
  free(lib->kits);
  for (size_t i = 0; i < lib->n_cache; i++) {
    free(lib->cache[i].path);
    free(lib->cache[i].data);
  }
  free(lib->cache);
  pthread_mutex_destroy(&lib->lock);
  free(lib);
}

size_t sample_library_notes_of_class(const sample_library *lib, int cls)
{
  size_t n = 0;
  for (size_t i = 0; lib && i < lib->n_phil; i++)
    n += lib->phil[i].cls == cls && !lib->phil[i].phrase;
  return n;
}

size_t sample_library_phrases_of_class(const sample_library *lib, int cls)
{
  size_t n = 0;
  for (size_t i = 0; lib && i < lib->n_phil; i++)
    n += lib->phil[i].cls == cls && lib->phil[i].phrase;
  return n;
}

size_t sample_library_n_kits(const sample_library *lib)
{
  return lib ? lib->n_kits : 0;
}
const char *sample_library_kit_name(const sample_library *lib, size_t kit)
{
  return lib && kit < lib->n_kits ? lib->kits[kit].name : "";
}

/* ---------------------------------------------------------------------------------------- */
/* Decoded-sample cache */

/* Returns the decoded sample; *owned = 1 when it was not cached and the caller frees it. */
static const float *get_sample(sample_library *lib, const char *path, int channels, int rate_hz,
                               size_t *frames, int *owned, char *errbuf, size_t errlen)
{
  *owned = 0;
  pthread_mutex_lock(&lib->lock);
  for (size_t i = 0; i < lib->n_cache; i++)
    if (lib->cache[i].channels == channels && strcmp(lib->cache[i].path, path) == 0) {
      const float *d = lib->cache[i].data;
      *frames = lib->cache[i].frames;
      pthread_mutex_unlock(&lib->lock);
      return d;
    }
  pthread_mutex_unlock(&lib->lock);

  float *data;
  size_t n;
  if (audio_decode_file(path, rate_hz, channels, &data, &n, errbuf, errlen) != 0)
    return NULL;
  /* Recordings start with a little silence; a note must start at its onset. */
  float peak = 0.0f;
  for (size_t i = 0; i < n * (size_t)channels; i++)
    peak = fmaxf(peak, fabsf(data[i]));
  size_t first = 0;
  while (first < n * (size_t)channels && fabsf(data[first]) < 0.01f * peak)
    first++;
  first /= (size_t)channels;
  size_t pre = (size_t)(0.002 * rate_hz);
  first = first > pre ? first - pre : 0;
  if (first > 0) {
    memmove(data, data + first * (size_t)channels, (n - first) * (size_t)channels * sizeof(float));
    n -= first;
  }
  *frames = n;

  size_t bytes = n * (size_t)channels * sizeof(float);
  pthread_mutex_lock(&lib->lock);
  for (size_t i = 0; i < lib->n_cache; i++) /* another thread may have beaten us to it */
    if (lib->cache[i].channels == channels && strcmp(lib->cache[i].path, path) == 0) {
      const float *d = lib->cache[i].data;
      *frames = lib->cache[i].frames;
      pthread_mutex_unlock(&lib->lock);
      free(data);
      return d;
    }
  if (lib->cache_bytes + bytes <= lib->cache_max_bytes) {
    if (lib->n_cache == lib->cap_cache) {
      size_t cap = lib->cap_cache ? lib->cap_cache * 2 : 256;
      cached_sample *c = realloc(lib->cache, cap * sizeof(cached_sample));
      if (c) {
        lib->cache = c;
        lib->cap_cache = cap;
      }
    }
    char *key = strdup(path);
    if (lib->n_cache < lib->cap_cache && key) {
      lib->cache[lib->n_cache++] = (cached_sample){key, data, n, channels};
      lib->cache_bytes += bytes;
      pthread_mutex_unlock(&lib->lock);
      return data;
    }
    free(key);
  }
  pthread_mutex_unlock(&lib->lock);
  *owned = 1;
  return data;
}

/* ---------------------------------------------------------------------------------------- */

long sampler_render_part(sample_library *lib, int cls, const smf_note *notes, size_t n_notes,
                         double t0_s, int max_shift, float *out, size_t frames, int rate_hz,
                         uint64_t seed, uint8_t *played, char *errbuf, size_t errlen)
{
  splitmix_rng rng = splitmix_derive(seed, 0x5a3b1e);
  const double release_s = 0.12;
  size_t release = (size_t)(release_s * rate_hz);
  float *tmp = NULL;
  size_t tmp_len = 0;
  long n_played = 0;
  memset(played, 0, n_notes);
  for (size_t i = 0; i < n_notes; i++) {
    const smf_note *nt = &notes[i];
    double on_s = nt->start_s - t0_s, off_s = nt->end_s - t0_s;
    if (off_s <= 0.0 || on_s * rate_hz >= (double)frames)
      continue;
    int best_diff = 1000;
    for (size_t k = 0; k < lib->n_phil; k++)
      if (lib->phil[k].cls == cls && !lib->phil[k].phrase &&
          abs(lib->phil[k].note - nt->pitch) < best_diff)
        best_diff = abs(lib->phil[k].note - nt->pitch);
    if (best_diff > max_shift)
      continue;
    int want_dyn = 1 + nt->velocity * 6 / 128; /* pianissimo .. fortissimo */
    int best_dyn = 1000;
    for (size_t k = 0; k < lib->n_phil; k++)
      if (lib->phil[k].cls == cls && !lib->phil[k].phrase &&
          abs(lib->phil[k].note - nt->pitch) == best_diff &&
          abs(lib->phil[k].dynamic - want_dyn) < best_dyn)
        best_dyn = abs(lib->phil[k].dynamic - want_dyn);
    size_t n_cand = 0, pick = 0;
    for (size_t k = 0; k < lib->n_phil; k++)
      if (lib->phil[k].cls == cls && !lib->phil[k].phrase &&
          abs(lib->phil[k].note - nt->pitch) == best_diff &&
          abs(lib->phil[k].dynamic - want_dyn) == best_dyn && splitmix_below(&rng, ++n_cand) == 0)
        pick = k; /* reservoir choice among equals */
    const phil_entry *e = &lib->phil[pick];
    size_t n_src;
    int owned;
    const float *src = get_sample(lib, e->path, 1, rate_hz, &n_src, &owned, errbuf, errlen);
    if (!src) {
      free(tmp);
      return -1;
    }
    double ratio = sampler_pitch_ratio(nt->pitch, e->hz);
    double skip_s = on_s < 0.0 ? -on_s : 0.0; /* a note already sounding when the excerpt starts */
    size_t at = on_s < 0.0 ? 0 : (size_t)(on_s * rate_hz);
    size_t len = (size_t)((off_s - on_s - skip_s) * rate_hz) + release;
    if (at + len > frames)
      len = frames - at;
    if (len > tmp_len) {
      float *p = realloc(tmp, len * sizeof(float));
      if (!p) {
        if (owned)
          free((void *)src);
        free(tmp);
        snprintf(errbuf, errlen, "out of memory");
        return -1;
      }
      tmp = p;
      tmp_len = len;
    }
    size_t inside = sampler_resample(src, n_src, skip_s * rate_hz * ratio, ratio, tmp, len);
    if (owned)
      free((void *)src);
    if (inside == 0)
      continue;
    double v = nt->velocity / 127.0;
    float gain = (float)(0.5 + 0.5 * v * v);
    size_t fade_in = skip_s > 0.0 ? (size_t)(0.005 * rate_hz) : 0;
    size_t fade_out = release < len ? release : len;
    for (size_t t = 0; t < len; t++) {
      float g = gain;
      if (t < fade_in)
        g *= (float)t / (float)fade_in;
      if (t + fade_out >= len)
        g *= (float)(len - t) / (float)fade_out;
      out[2 * (at + t)] += g * tmp[t];
      out[2 * (at + t) + 1] += g * tmp[t];
    }
    played[i] = 1;
    n_played++;
  }
  free(tmp);
  return n_played;
}

int sampler_can_play(const sample_library *lib, int cls, int note, int max_shift)
{
  for (size_t k = 0; lib && k < lib->n_phil; k++)
    if (lib->phil[k].cls == cls && !lib->phil[k].phrase &&
        abs(lib->phil[k].note - note) <= max_shift)
      return 1;
  return 0;
}

long sampler_add_phrase(sample_library *lib, int cls, uint64_t seed, float *out, size_t frames,
                        size_t at, int rate_hz, int *note, char *errbuf, size_t errlen)
{
  splitmix_rng rng = splitmix_derive(seed, 0x9f11);
  size_t n_cand = 0, pick = 0;
  for (size_t k = 0; k < lib->n_phil; k++)
    if (lib->phil[k].cls == cls && lib->phil[k].phrase && splitmix_below(&rng, ++n_cand) == 0)
      pick = k;
  if (n_cand == 0 || at >= frames) {
    snprintf(errbuf, errlen, "no phrase recorded for class %s", instrid_taxonomy[cls]);
    return -1;
  }
  size_t n_src;
  int owned;
  const float *src =
      get_sample(lib, lib->phil[pick].path, 1, rate_hz, &n_src, &owned, errbuf, errlen);
  if (!src)
    return -1;
  size_t len = n_src < frames - at ? n_src : frames - at;
  size_t fade = (size_t)(0.05 * rate_hz);
  for (size_t t = 0; t < len; t++) {
    float g = 1.0f;
    if (len < n_src && t + fade >= len) /* cut short by the clip end: fade rather than click */
      g = (float)(len - t) / (float)fade;
    out[2 * (at + t)] += g * src[t];
    out[2 * (at + t) + 1] += g * src[t];
  }
  if (owned)
    free((void *)src);
  *note = lib->phil[pick].note;
  return (long)len;
}

/* GM percussion key -> kit category, and what to fall back on when a kit lacks it. */
static int key_category(int key)
{
  switch (key) {
  case 35:
  case 36:
    return DK_KICK;
  case 37:
    return DK_SIDESTICK;
  case 38:
  case 40:
    return DK_SNARE;
  case 39:
    return DK_CLAP;
  case 41:
  case 43:
    return DK_TOM_LOW;
  case 45:
  case 47:
    return DK_TOM_MID;
  case 48:
  case 50:
    return DK_TOM_HIGH;
  case 42:
    return DK_HH_CLOSED;
  case 44:
    return DK_HH_PEDAL;
  case 46:
    return DK_HH_OPEN;
  case 49:
  case 57:
    return DK_CRASH;
  case 51:
  case 59:
    return DK_RIDE;
  case 53:
    return DK_RIDE_BELL;
  case 52:
    return DK_CHINA;
  case 55:
    return DK_SPLASH;
  case 56:
    return DK_COWBELL;
  case 54:
    return DK_TAMBOURINE;
  default:
    return DK_NONE;
  }
}

static const int fallback_category[DK_COUNT] = {
    [DK_KICK] = DK_NONE,         [DK_SNARE] = DK_NONE,      [DK_SIDESTICK] = DK_SNARE,
    [DK_CLAP] = DK_SNARE,        [DK_TOM_LOW] = DK_TOM_MID, [DK_TOM_MID] = DK_TOM_HIGH,
    [DK_TOM_HIGH] = DK_TOM_LOW,  [DK_HH_CLOSED] = DK_NONE,  [DK_HH_PEDAL] = DK_HH_CLOSED,
    [DK_HH_OPEN] = DK_HH_CLOSED, [DK_CRASH] = DK_RIDE,      [DK_RIDE] = DK_CRASH,
    [DK_RIDE_BELL] = DK_RIDE,    [DK_CHINA] = DK_CRASH,     [DK_SPLASH] = DK_CRASH,
    [DK_COWBELL] = DK_NONE,      [DK_TAMBOURINE] = DK_NONE,
};

long drumkit_render_part(sample_library *lib, size_t kit, const smf_note *notes, size_t n_notes,
                         double t0_s, float *out, size_t frames, int rate_hz, uint64_t seed,
                         uint8_t *played, char *errbuf, size_t errlen)
{
  memset(played, 0, n_notes);
  if (kit >= lib->n_kits) {
    snprintf(errbuf, errlen, "no drum kit %zu", kit);
    return -1;
  }
  const drumkit *k = &lib->kits[kit];
  splitmix_rng rng = splitmix_derive(seed, 0xd7u);
  /* one kit instrument per category for the whole part, as a drummer has one snare */
  int chosen[DK_COUNT];
  for (int c = 0; c < DK_COUNT; c++) {
    size_t n = 0;
    chosen[c] = -1;
    for (size_t i = 0; i < k->n_inst; i++)
      if (k->inst[i].category == c && splitmix_below(&rng, ++n) == 0)
        chosen[c] = (int)i;
  }
  const size_t max_len = (size_t)(4.0 * rate_hz);
  long n_played = 0;
  for (size_t i = 0; i < n_notes; i++) {
    const smf_note *nt = &notes[i];
    double on_s = nt->start_s - t0_s;
    if (on_s < 0.0 || on_s * rate_hz >= (double)frames)
      continue; /* a hit before the excerpt is not heard in it */
    int cat = key_category(nt->pitch);
    for (int hops = 0; cat != DK_NONE && chosen[cat] < 0 && hops < 3; hops++)
      cat = fallback_category[cat];
    if (cat == DK_NONE || chosen[cat] < 0)
      continue;
    const kit_instrument *in = &k->inst[chosen[cat]];
    float v = nt->velocity / 127.0f;
    const kit_layer *layer = &in->layers[0];
    for (size_t l = 0; l < in->n_layers; l++)
      if (v >= in->layers[l].lo && v <= in->layers[l].hi) {
        layer = &in->layers[l];
        break;
      }
    size_t n_src;
    int owned;
    const float *src = get_sample(lib, layer->path, 2, rate_hz, &n_src, &owned, errbuf, errlen);
    if (!src)
      return -1;
    size_t at = (size_t)(on_s * rate_hz);
    size_t len = n_src < max_len ? n_src : max_len;
    if (at + len > frames)
      len = frames - at;
    float g = layer->gain * (0.4f + 0.6f * v);
    for (size_t t = 0; t < len; t++) {
      out[2 * (at + t)] += g * src[2 * t];
      out[2 * (at + t) + 1] += g * src[2 * t + 1];
    }
    if (owned)
      free((void *)src);
    played[i] = 1;
    n_played++;
  }
  return n_played;
}
