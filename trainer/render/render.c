/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* render.c — one song to one labelled mix, stem by stem (see render.h). */
#include "render.h"

#include <fluidsynth.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acoustics.h"
#include "audio.h"
#include "drums.h"
#include "fx.h"
#include "rng.h"
#include "synth.h"

struct render_engine {
  render_config cfg;
  fluid_settings_t *settings;
  fluid_synth_t *synth;
  int sfid[RENDER_MAX_SOUNDFONTS];
  /* The loaded SoundFonts themselves: a stem's synth adds one with fluid_synth_add_sfont,
   * which gives it that synth's next id, so after its first stem a SoundFont other than the
   * first is no longer found by its id in this synth. */
  fluid_sfont_t *sfont[RENDER_MAX_SOUNDFONTS];
  char sfname[RENDER_MAX_SOUNDFONTS][64];
  int n_sf;
};

void render_options_default(render_options *opt)
{
  opt->excerpt_s = 0.0;
  opt->max_instruments = RENDER_MAX_STEMS;
  opt->solo_prob = 0.25;
  opt->reassign_prob = 0.35;
  opt->phrase_prob = 0.15;
  opt->sampler_prob = 0.5;
  opt->sources = SOURCE_ALL;
  opt->vary = 1;
  opt->excluded_classes = 0;
  opt->sfz_prob = 0.5;
  opt->room_prob = 0.0;
  opt->mic_prob = 0.0;
  opt->compress_prob = 0.0;
  opt->codec_prob = 0.0;
  opt->keep_program = 0;
  opt->excerpt_from_start = 0;
  opt->drums_prob = 0.0;
  opt->match_register_prob = 0.0;
  opt->synth_prob = 0.0;
  for (int c = 0; c < TAXONOMY_N; c++)
    opt->class_weight[c] = 1.0;
}

int render_class_draw(const render_options *opt, splitmix_rng *rng, int cls, uint64_t *n,
                      double *total)
{
  int even = 1;
  for (int c = 0; c < TAXONOMY_N && even; c++)
    even = opt->class_weight[c] == 1.0;
  if (even)
    return splitmix_below(rng, ++*n) == 0;
  double w = opt->class_weight[cls];
  ++*n;
  *total += w;
  return w > 0.0 && splitmix_uniform(rng) * *total < w;
}

void render_options_as_written(render_options *opt, int sources)
{
  render_options_default(opt);
  opt->vary = 0;
  opt->reassign_prob = 0.0;
  opt->sources = sources;
}

render_engine *render_engine_new(const render_config *cfg, char *errbuf, size_t errlen)
{
  render_engine *eng = calloc(1, sizeof(*eng));
  if (!eng) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  eng->cfg = *cfg;
  /* FluidSynth warns on stderr for every channel of a synth made before its SoundFont is added
   * (we make one per stem) and for every missing sample; nothing there is actionable, and real
   * errors come back as values. Process-wide, set before any synth exists. */
  fluid_set_log_function(FLUID_WARN, NULL, NULL);
  fluid_set_log_function(FLUID_INFO, NULL, NULL);
  fluid_set_log_function(FLUID_DBG, NULL, NULL);
  eng->settings = new_fluid_settings();
  if (!eng->settings)
    goto fail_synth;
  fluid_settings_setnum(eng->settings, "synth.sample-rate", cfg->rate_hz);
  /* our own reverb per stem instead, so that every source gets the same treatment */
  fluid_settings_setint(eng->settings, "synth.reverb.active", 0);
  fluid_settings_setint(eng->settings, "synth.chorus.active", 0);
  fluid_settings_setint(eng->settings, "synth.polyphony", 256);
  fluid_settings_setint(eng->settings, "synth.cpu-cores", 1);
  fluid_settings_setnum(eng->settings, "synth.gain", 0.4);
  /* All samples at load time. With dynamic loading a preset's samples are dropped when the last
   * synth using it goes, i.e. after every stem here (one fresh synth per stem, see fluid_render),
   * and an .sf3 then decodes its Vorbis samples again for each stem: 12x slower in all. */
  fluid_settings_setint(eng->settings, "synth.dynamic-sample-loading", 0);
  eng->synth = new_fluid_synth(eng->settings);
  if (!eng->synth)
    goto fail_synth;
  for (int i = 0; i < cfg->n_soundfonts && i < RENDER_MAX_SOUNDFONTS; i++) {
    int id = fluid_synth_sfload(eng->synth, cfg->soundfonts[i], 0);
    if (id == FLUID_FAILED) {
      snprintf(errbuf, errlen, "%.300s: FluidSynth cannot load this SoundFont", cfg->soundfonts[i]);
      render_engine_free(eng);
      return NULL;
    }
    const char *base = strrchr(cfg->soundfonts[i], '/');
    snprintf(eng->sfname[eng->n_sf], sizeof(eng->sfname[0]), "%s",
             base ? base + 1 : cfg->soundfonts[i]);
    eng->sfont[eng->n_sf] = fluid_synth_get_sfont_by_id(eng->synth, id);
    eng->sfid[eng->n_sf++] = id;
  }
  return eng;
fail_synth:
  snprintf(errbuf, errlen, "cannot create a FluidSynth synthesizer");
  render_engine_free(eng);
  return NULL;
}

void render_engine_free(render_engine *eng)
{
  if (!eng)
    return;
  if (eng->synth)
    delete_fluid_synth(eng->synth);
  if (eng->settings)
    delete_fluid_settings(eng->settings);
  free(eng);
}

void render_piece_clear(render_piece *piece)
{
  free(piece->audio);
  free(piece->labels);
  memset(piece, 0, sizeof(*piece));
}

/* ---------------------------------------------------------------------------------------- */

static int has_preset(render_engine *eng, int sf, int bank, int program)
{
  fluid_sfont_t *s = eng->sfont[sf];
  return s && fluid_sfont_get_preset(s, bank, program) != NULL;
}

typedef struct {
  uint32_t frame;
  uint8_t on, key, vel;
} synth_event;

static int cmp_event(const void *a, const void *b)
{
  const synth_event *x = a, *y = b;
  if (x->frame != y->frame)
    return x->frame < y->frame ? -1 : 1;
  return (int)x->on - (int)y->on; /* note-offs first, so a repeated note re-strikes */
}

/* Renders the notes (times already relative to the excerpt, in seconds) through FluidSynth. */
static int fluid_render(render_engine *eng, int sf, int bank, int program, int drum,
                        const smf_note *notes, size_t n, const int *keys, float *out, size_t frames,
                        char *errbuf, size_t errlen)
{
  int ch = drum ? 9 : 0;
  /* A fresh synthesizer per stem, sharing the engine's loaded SoundFonts: a reused one carries
   * state (block phase, voice filters) from earlier stems, and the audio would then depend on
   * what this thread rendered before, i.e. on the job count. */
  fluid_synth_t *synth = new_fluid_synth(eng->settings);
  if (!synth) {
    snprintf(errbuf, errlen, "cannot create a FluidSynth synthesizer");
    return -1;
  }
  int id = -1;
  fluid_sfont_t *sfont = eng->sfont[sf];
  if (sfont)
    id = fluid_synth_add_sfont(synth, sfont);
  if (id == FLUID_FAILED || fluid_synth_program_select(synth, ch, id, bank, program) != FLUID_OK) {
    snprintf(errbuf, errlen, "%s has no preset %d:%d", eng->sfname[sf], bank, program);
    if (sfont && id != FLUID_FAILED)
      fluid_synth_remove_sfont(synth, sfont);
    delete_fluid_synth(synth);
    return -1;
  }
  synth_event *ev = malloc((2 * n + 1) * sizeof(synth_event));
  if (!ev) {
    snprintf(errbuf, errlen, "out of memory");
    fluid_synth_remove_sfont(synth, sfont);
    delete_fluid_synth(synth);
    return -1;
  }
  size_t n_ev = 0;
  double rate = eng->cfg.rate_hz;
  for (size_t i = 0; i < n; i++) {
    if (keys[i] < 0)
      continue;
    double on = notes[i].start_s * rate, off = notes[i].end_s * rate;
    if (off <= 0 || on >= (double)frames)
      continue;
    uint8_t vel = notes[i].velocity ? notes[i].velocity : 1;
    ev[n_ev++] = (synth_event){(uint32_t)(on < 0 ? 0 : on), 1, (uint8_t)keys[i], vel};
    if (off < (double)frames)
      ev[n_ev++] = (synth_event){(uint32_t)off, 0, (uint8_t)keys[i], 0};
  }
  qsort(ev, n_ev, sizeof(synth_event), cmp_event);
  size_t pos = 0;
  for (size_t e = 0; e <= n_ev; e++) {
    size_t until = e < n_ev ? ev[e].frame : frames;
    while (pos < until) {
      int k = (int)(until - pos < 4096 ? until - pos : 4096);
      fluid_synth_write_float(synth, k, out + 2 * pos, 0, 2, out + 2 * pos, 1, 2);
      pos += (size_t)k;
    }
    if (e == n_ev)
      break;
    if (ev[e].on)
      fluid_synth_noteon(synth, ch, ev[e].key, ev[e].vel);
    else
      fluid_synth_noteoff(synth, ch, ev[e].key);
  }
  fluid_synth_all_sounds_off(synth, -1);
  fluid_synth_remove_sfont(synth, sfont); /* the engine's synth owns it */
  delete_fluid_synth(synth);
  free(ev);
  return 0;
}

/* ---------------------------------------------------------------------------------------- */

typedef struct {
  int cls;
  int source; /* SOURCE_* */
  int sf, bank, program;
  size_t kit;
  int sfz;           /* index into cfg.sfz */
  int shift;         /* semitones added to every note (transposition + octave fit) */
  synth_patch patch; /* SOURCE_SYNTH */
  char what[96];
} stem_plan;

static int sfz_count(const render_engine *eng, const render_options *opt, int cls)
{
  int n = 0;
  if (opt->sources & SOURCE_SFZ)
    for (int i = 0; i < eng->cfg.n_sfz; i++)
      n += eng->cfg.sfz_class[i] == cls;
  return n;
}

/* The k-th SFZ library of a class, named in the plan. */
static void plan_sfz(const render_engine *eng, stem_plan *p, int cls, int k)
{
  for (int i = 0; i < eng->cfg.n_sfz; i++)
    if (eng->cfg.sfz_class[i] == cls && k-- == 0) {
      p->source = SOURCE_SFZ;
      p->sfz = i;
      const char *name = sfz_name(eng->cfg.sfz[i]);
      const char *base = strrchr(name, '/');
      snprintf(p->what, sizeof(p->what), "%s[sfz %s]", instrid_taxonomy[p->cls],
               base ? base + 1 : name);
      return;
    }
}

static int class_has_fluid(const render_engine *eng, int cls)
{
  return eng->n_sf > 0 && (render_classes[cls].gm_programs[0] >= 0 || cls == TAX_UKULELE);
}

/* Whether a class can sound a part spanning [lo, hi] after shifting by `shift`. */
static int fits(int cls, int lo, int hi, int shift)
{
  return lo + shift >= render_classes[cls].lo && hi + shift <= render_classes[cls].hi;
}

/* The first of shift, an octave down, an octave up, two down, two up... (n_shifts of them, up to
 * 9) at which a class can sound [lo, hi]: 1 with it in *out, else 0. */
static int fit_octave(int cls, int lo, int hi, int shift, int n_shifts, int *out)
{
  static const int octave[9] = {0, -12, 12, -24, 24, -36, 36, -48, 48};
  for (int o = 0; o < n_shifts && o < 9; o++)
    if (fits(cls, lo, hi, shift + octave[o])) {
      *out = shift + octave[o];
      return 1;
    }
  return 0;
}

static int synth_available(const render_options *opt, int cls)
{
  return (opt->sources & SOURCE_SYNTH) && opt->synth_prob > 0 && synth_can_play(cls) &&
         !(opt->excluded_classes & (1u << cls));
}

static int class_available(const render_engine *eng, const render_options *opt, int cls)
{
  sample_library *lib = eng->cfg.library;
  if (opt->excluded_classes & (1u << cls))
    return 0;
  if (synth_available(opt, cls))
    return 1;
  if ((opt->sources & SOURCE_FLUID) && class_has_fluid(eng, cls))
    return 1;
  if ((opt->sources & SOURCE_SAMPLER) && sample_library_notes_of_class(lib, cls) > 0)
    return 1;
  return sfz_count(eng, opt, cls) > 0;
}

int render_class_available(const render_engine *eng, const render_options *opt, int cls)
{
  if (cls < 0 || cls >= TAXONOMY_N)
    return 0;
  if (render_classes[cls].pitched)
    return class_available(eng, opt, cls);
  if (opt->excluded_classes & (1u << cls))
    return 0;
  return ((opt->sources & SOURCE_KIT) && sample_library_n_kits(eng->cfg.library) > 0) ||
         ((opt->sources & SOURCE_FLUID) && eng->n_sf > 0) || sfz_count(eng, opt, TAX_DRUMS) > 0;
}

/* A pitched class at random (by opt->class_weight) among those whose range holds the part (octave
 * shifts allowed). */
static int pick_class_by_range(const render_engine *eng, const render_options *opt,
                               splitmix_rng *rng, int lo, int hi, int transpose, int *shift)
{
  static const int octave[5] = {0, -12, 12, -24, 24};
  for (int o = 0; o < 5; o++) {
    uint64_t n = 0;
    double total = 0.0;
    int pick = -1;
    for (int c = 0; c < TAXONOMY_N; c++)
      if (render_classes[c].pitched && class_available(eng, opt, c) &&
          fits(c, lo, hi, transpose + octave[o]) && render_class_draw(opt, rng, c, &n, &total))
        pick = c;
    if (pick >= 0) {
      *shift = transpose + octave[o];
      return pick;
    }
  }
  return -1;
}

/* The built-in synthesizer for a pitched part at opt->synth_prob (always when no other source
 * can play the class), from the stem's own stream 5: the other draws stay as they were. 1 with
 * the patch drawn into the plan, 0 when another source plays it. */
static int choose_synth(const render_engine *eng, const render_options *opt, stem_plan *p,
                        uint64_t stem_seed)
{
  if (!synth_available(opt, p->cls))
    return 0;
  render_options others = *opt;
  others.sources &= ~SOURCE_SYNTH;
  splitmix_rng r = splitmix_derive(stem_seed, 5);
  if (splitmix_uniform(&r) >= opt->synth_prob && class_available(eng, &others, p->cls))
    return 0;
  if (synth_patch_draw(&p->patch, p->cls, -1, &r) != 0)
    return 0;
  p->source = SOURCE_SYNTH;
  snprintf(p->what, sizeof(p->what), "%s[synth %s]", instrid_taxonomy[p->cls], p->patch.family);
  return 1;
}

/* Chooses a source for a class. 0 when none is available. */
static int pick_source(render_engine *eng, const render_options *opt, splitmix_rng *rng,
                       stem_plan *p, int drum, int written_program)
{
  sample_library *lib = eng->cfg.library;
  if (drum) {
    int kits = (opt->sources & SOURCE_KIT) ? (int)sample_library_n_kits(lib) : 0;
    int fluid = (opt->sources & SOURCE_FLUID) && eng->n_sf > 0;
    int n_sfz = sfz_count(eng, opt, TAX_DRUMS);
    if (n_sfz > 0 && ((!kits && !fluid) || splitmix_uniform(rng) < opt->sfz_prob)) {
      plan_sfz(eng, p, TAX_DRUMS, (int)splitmix_below(rng, (uint64_t)n_sfz));
      return 1;
    }
    if (!kits && !fluid)
      return 0;
    if (kits && (!fluid || splitmix_uniform(rng) < 0.6)) {
      p->source = SOURCE_KIT;
      p->kit = splitmix_below(rng, (uint64_t)kits);
      snprintf(p->what, sizeof(p->what), "drums[kit %s]", sample_library_kit_name(lib, p->kit));
      return 1;
    }
    static const int kits_gm[] = {0, 8, 16, 24, 25, 32, 40, 48};
    p->source = SOURCE_FLUID;
    p->sf = (int)splitmix_below(rng, (uint64_t)eng->n_sf);
    p->bank = 128;
    p->program = opt->vary ? kits_gm[splitmix_below(rng, 8)] : 0;
    if (!has_preset(eng, p->sf, 128, p->program))
      p->program = 0;
    if (!has_preset(eng, p->sf, 128, p->program))
      return 0;
    snprintf(p->what, sizeof(p->what), "drums[%s kit %d]", eng->sfname[p->sf], p->program);
    return 1;
  }
  int fluid = (opt->sources & SOURCE_FLUID) && class_has_fluid(eng, p->cls);
  int sampler = (opt->sources & SOURCE_SAMPLER) && sample_library_notes_of_class(lib, p->cls) > 0;
  int n_sfz = sfz_count(eng, opt, p->cls);
  if (n_sfz > 0 && ((!fluid && !sampler) || splitmix_uniform(rng) < opt->sfz_prob)) {
    plan_sfz(eng, p, p->cls, (int)splitmix_below(rng, (uint64_t)n_sfz));
    return 1;
  }
  if (!fluid && !sampler)
    return 0;
  if (sampler && (!fluid || splitmix_uniform(rng) < opt->sampler_prob)) {
    p->source = SOURCE_SAMPLER;
    snprintf(p->what, sizeof(p->what), "%s[philharmonia]", instrid_taxonomy[p->cls]);
    return 1;
  }
  const int *progs = render_classes[p->cls].gm_programs;
  int n_prog = 0;
  while (progs[n_prog] >= 0)
    n_prog++;
  for (int tries = 0; tries < 8; tries++) {
    p->sf = (int)splitmix_below(rng, (uint64_t)eng->n_sf);
    p->bank = 0;
    /* GM has no ukulele: a nylon-string guitar held to the ukulele's range stands in */
    p->program = p->cls == TAX_UKULELE ? 24 : progs[splitmix_below(rng, (uint64_t)n_prog)];
    /* the written program, when it is one of the class's, half the time (always without --vary
     * or with keep_program) */
    if (written_program >= 0 && render_class_of_program(written_program) == p->cls &&
        (!opt->vary || opt->keep_program || splitmix_uniform(rng) < 0.5))
      p->program = written_program;
    if (!opt->vary)
      p->sf = 0;
    if (has_preset(eng, p->sf, 0, p->program)) {
      p->source = SOURCE_FLUID;
      snprintf(p->what, sizeof(p->what), "%s[%s p%d]", instrid_taxonomy[p->cls], eng->sfname[p->sf],
               p->program);
      return 1;
    }
  }
  return 0;
}

static int cmp_label(const void *a, const void *b)
{
  const render_label *x = a, *y = b;
  if (x->start != y->start)
    return x->start < y->start ? -1 : 1;
  if (x->cls != y->cls)
    return x->cls - y->cls;
  return x->note - y->note;
}

static int push_label(render_piece *pc, size_t *cap, render_label l)
{
  if (pc->n_labels == *cap) {
    size_t c = *cap ? *cap * 2 : 256;
    render_label *p = realloc(pc->labels, c * sizeof(render_label));
    if (!p)
      return 0;
    pc->labels = p;
    *cap = c;
  }
  pc->labels[pc->n_labels++] = l;
  return 1;
}

/* Random EQ, level, pan and room for one stem, in place. */
static void stem_effects(float *x, size_t frames, double rate, splitmix_rng *rng, int vary)
{
  double sum = 0.0;
  size_t active = 0;
  for (size_t i = 0; i < 2 * frames; i++)
    if (x[i] != 0.0f) {
      sum += (double)x[i] * x[i];
      active++;
    }
  if (active == 0)
    return;
  /* level to an RMS of -20 dBFS over the samples that sound, then the random mix level */
  double rms = sqrt(sum / (double)active);
  double gain_db = vary ? splitmix_range(rng, -10.0, 0.0) : -3.0;
  double gain = pow(10.0, (-20.0 + gain_db) / 20.0) / (rms > 1e-9 ? rms : 1e-9);
  double pan = vary ? splitmix_range(rng, -0.7, 0.7) : 0.0;
  if (vary) {
    fx_biquad bq;
    fx_biquad_init(&bq, FX_LOW_SHELF, splitmix_range(rng, 80, 300), splitmix_range(rng, -6, 6), 0.7,
                   rate);
    fx_biquad_run_stereo(&bq, x, frames);
    fx_biquad_init(&bq, FX_HIGH_SHELF, splitmix_range(rng, 2500, 9000), splitmix_range(rng, -8, 4),
                   0.7, rate);
    fx_biquad_run_stereo(&bq, x, frames);
    fx_biquad_init(&bq, FX_PEAK, exp(splitmix_range(rng, log(250), log(4000))),
                   splitmix_range(rng, -6, 6), splitmix_range(rng, 0.5, 2.0), rate);
    fx_biquad_run_stereo(&bq, x, frames);
  }
  fx_pan_stereo(x, frames, pan, gain);
  if (vary && splitmix_uniform(rng) < 0.7)
    fx_reverb_stereo(x, frames, rate, splitmix_uniform(rng), splitmix_uniform(rng),
                     splitmix_range(rng, 0.05, 0.6));
}

static void append_description(render_piece *piece, size_t *len, const char *what)
{
  *len +=
      (size_t)snprintf(piece->description + *len, sizeof(piece->description) - *len, "%s", what);
  if (*len >= sizeof(piece->description))
    *len = sizeof(piece->description) - 1;
}

/* The median MIDI note of a part's notes that sound within [0, len_s) (times relative to the
 * excerpt), or -1 when none does. */
static int median_note(const smf_note *notes, size_t n, double len_s)
{
  size_t count[128] = {0}, total = 0;
  for (size_t i = 0; i < n; i++)
    if (notes[i].end_s > 0 && notes[i].start_s < len_s) {
      count[notes[i].pitch & 127]++;
      total++;
    }
  for (size_t k = 0, seen = 0; k < 128 && total > 0; k++)
    if ((seen += count[k]) * 2 >= total)
      return (int)k;
  return -1;
}

static void master_peak(float *x, size_t frames, float level)
{
  float peak = 0.0f;
  for (size_t i = 0; i < 2 * frames; i++)
    peak = fmaxf(peak, fabsf(x[i]));
  if (peak > 0.0f)
    for (size_t i = 0; i < 2 * frames; i++)
      x[i] *= level / peak;
}

/* The whole mix in a room: a real response from cfg.irs half the time when there are any, else
 * a synthetic one (RT60 0.2..1.5 s); wet 0.15..0.6. */
static int apply_room(render_engine *eng, render_piece *piece, splitmix_rng *rng, char *errbuf,
                      size_t errlen, size_t *desc_len)
{
  const double rate = eng->cfg.rate_hz;
  char what[48];
  double wet = splitmix_range(rng, 0.15, 0.6);
  int ok;
  if (eng->cfg.n_irs > 0 && splitmix_uniform(rng) < 0.5) {
    int k = (int)splitmix_below(rng, (uint64_t)eng->cfg.n_irs);
    ok = acoustics_convolve(piece->audio, piece->frames, eng->cfg.irs[k], eng->cfg.ir_frames[k],
                            wet);
    snprintf(what, sizeof what, " | room[ir %d]", k);
  } else {
    size_t max = (size_t)(1.5 * rate);
    float *ir = malloc(max * sizeof(float));
    double rt60 = splitmix_range(rng, 0.2, 1.5);
    size_t n = ir ? acoustics_synthetic_ir(ir, max, rate, rt60, rng) : 0;
    ok = ir && acoustics_convolve(piece->audio, piece->frames, ir, n, wet);
    free(ir);
    snprintf(what, sizeof what, " | room[rt60 %.1f s]", rt60);
  }
  if (!ok) {
    snprintf(errbuf, errlen, "out of memory for the room");
    return -1;
  }
  append_description(piece, desc_len, what);
  return 0;
}

int render_song(render_engine *eng, const smf_song *song, const render_options *opt, uint64_t seed,
                render_piece *piece, char *errbuf, size_t errlen)
{
  memset(piece, 0, sizeof(*piece));
  piece->first_program = -1;
  splitmix_rng rng = splitmix_derive(seed, 1);
  const double rate = eng->cfg.rate_hz;
  double time_scale = opt->vary ? 1.0 / splitmix_range(&rng, 0.85, 1.15) : 1.0;
  int transpose = opt->vary ? (int)splitmix_below(&rng, 5) - 2 : 0;
  double song_s = song->duration_s * time_scale;
  double len_s = opt->excerpt_s > 0 ? opt->excerpt_s : song_s + 1.5; /* room for the release */

  /* Excerpt start: a random place where some part plays. */
  double t0 = 0.0;
  if (opt->excerpt_s > 0 && song_s > opt->excerpt_s && !opt->excerpt_from_start) {
    for (int tries = 0; tries < 16; tries++) {
      t0 = splitmix_range(&rng, 0.0, song_s - opt->excerpt_s * 0.5);
      size_t sounding = 0;
      for (size_t p = 0; p < song->n_parts; p++)
        for (size_t i = 0; i < song->parts[p].n_notes; i++) {
          double on = song->parts[p].notes[i].start_s * time_scale;
          sounding += on >= t0 && on < t0 + opt->excerpt_s;
        }
      if (sounding >= 4)
        break;
    }
  }
  size_t frames = (size_t)(len_s * rate);
  if (frames == 0 || len_s > 4 * 3600) {
    snprintf(errbuf, errlen, "unusable length %.1f s", len_s);
    return -1;
  }

  /* Parts that sound in the excerpt, in random order, then the number to keep. */
  size_t order[64], n_cand = 0;
  for (size_t p = 0; p < song->n_parts && n_cand < 64; p++) {
    for (size_t i = 0; i < song->parts[p].n_notes; i++) {
      double on = song->parts[p].notes[i].start_s * time_scale - t0;
      double off = song->parts[p].notes[i].end_s * time_scale - t0;
      if (off > 0.05 && on < len_s - 0.05) {
        order[n_cand++] = p;
        break;
      }
    }
  }
  if (n_cand == 0) {
    snprintf(errbuf, errlen, "no notes in the chosen excerpt");
    return -1;
  }
  for (size_t i = n_cand; i > 1; i--) {
    size_t j = splitmix_below(&rng, i);
    size_t t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
  }
  int max_k = opt->max_instruments < 1                  ? 1
              : opt->max_instruments > RENDER_MAX_STEMS ? RENDER_MAX_STEMS
                                                        : opt->max_instruments;
  size_t keep = n_cand < (size_t)max_k ? n_cand : (size_t)max_k;
  int solo = 0;
  if (opt->vary && keep > 1) {
    solo = splitmix_uniform(&rng) < opt->solo_prob;
    keep = solo ? 1 : 2 + splitmix_below(&rng, keep - 1);
  }

  /* A generated drum part for a song without percussion, first in the order so that it is
   * kept: one more stem, or in place of the last part drawn when those fill max_instruments.
   * Its own stream of random numbers: the draws above and the other parts' stay as they were. */
  smf_part gen = {0};
  const size_t GEN = (size_t)-1;
  int gen_extra = 0;
  if (opt->drums_prob > 0 && !solo && max_k > 1 && !drums_song_has_percussion(song) &&
      render_class_available(eng, opt, TAX_DRUMS)) {
    splitmix_rng drng = splitmix_derive(seed, 4);
    if (splitmix_uniform(&drng) < opt->drums_prob && drums_generate(song, &drng, &gen) == 0) {
      size_t n = n_cand < 64 ? n_cand : 63;
      memmove(order + 1, order, n * sizeof(order[0]));
      order[0] = GEN;
      n_cand = n + 1;
      gen_extra = keep < (size_t)max_k;
      keep += (size_t)gen_extra;
    }
  }

  /* Register matching (opt->match_register_prob): its own stream, drawn only when asked for. */
  int match_register = 0, anchor = -1;
  if (opt->match_register_prob > 0) {
    splitmix_rng mrng = splitmix_derive(seed, 6);
    match_register = splitmix_uniform(&mrng) < opt->match_register_prob;
  }

  piece->audio = calloc(2 * frames, sizeof(float));
  float *stem = malloc(2 * frames * sizeof(float));
  smf_note *notes = NULL;
  int *keys = NULL;
  uint8_t *played = NULL;
  size_t label_cap = 0, notes_cap = 0;
  int n_stems = 0;
  if (!piece->audio || !stem) {
    snprintf(errbuf, errlen, "out of memory for %.0f s of audio", len_s);
    goto fail;
  }
  piece->frames = frames;
  piece->start_s = t0;
  size_t desc_len = 0;
  for (size_t oi = 0; oi < n_cand && (size_t)n_stems < keep; oi++) {
    int generated = order[oi] == GEN;
    const smf_part *part = generated ? &gen : &song->parts[order[oi]];
    uint64_t stem_seed = splitmix_next(&rng);
    splitmix_rng srng = splitmix_derive(stem_seed, 2);
    int drum = part->channel == 9;
    /* notes relative to the excerpt */
    if (part->n_notes > notes_cap) {
      free(notes);
      free(keys);
      free(played);
      notes_cap = part->n_notes;
      notes = malloc(notes_cap * sizeof(smf_note));
      keys = malloc(notes_cap * sizeof(int));
      played = malloc(notes_cap);
      if (!notes || !keys || !played) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
      }
    }
    int lo = 127, hi = 0;
    for (size_t i = 0; i < part->n_notes; i++) {
      notes[i] = part->notes[i];
      notes[i].start_s = notes[i].start_s * time_scale - t0;
      notes[i].end_s = notes[i].end_s * time_scale - t0;
      if (notes[i].end_s > 0 && notes[i].start_s < len_s) {
        lo = notes[i].pitch < lo ? notes[i].pitch : lo;
        hi = notes[i].pitch > hi ? notes[i].pitch : hi;
      }
    }
    stem_plan plan = {0};
    int median = drum ? -1 : median_note(notes, part->n_notes, len_s);
    if (drum) {
      plan.cls = TAX_DRUMS;
    } else {
      int cls = part->program >= 0 ? render_class_of_program(part->program) : -1;
      /* the piece's transposition, and with register matching the octaves to the first part's */
      int shift = transpose;
      if (match_register && anchor >= 0 && median >= 0)
        shift += 12 * (int)floor((anchor - (median + transpose)) / 12.0 + 0.5);
      plan.shift = shift;
      if (cls >= 0 && !(opt->vary && splitmix_uniform(&srng) < opt->reassign_prob) &&
          class_available(eng, opt, cls)) {
        /* keep the written instrument; move by octaves only if the transposition pushes it out
         * (matched: the octave nearest the first part's register that the class can reach) */
        if (!fit_octave(cls, lo, hi, shift, shift == transpose ? 3 : 9, &plan.shift))
          plan.shift = 0;
      } else {
        cls = pick_class_by_range(eng, opt, &srng, lo, hi, shift, &plan.shift);
      }
      if (cls < 0)
        continue;
      plan.cls = cls;
    }
    int synth = !drum && choose_synth(eng, opt, &plan, stem_seed);
    if (!synth && !pick_source(eng, opt, &srng, &plan, drum, part->program)) {
      keep -= (size_t)(generated && gen_extra); /* no drums: the parts drawn stay as many */
      continue;
    }
    if (generated) {
      char what[sizeof(plan.what)];
      snprintf(what, sizeof(what), "drums[generated, %s", strchr(plan.what, '[') + 1);
      memcpy(plan.what, what, sizeof(what));
    }
    for (size_t i = 0; i < part->n_notes; i++) {
      int k = drum ? notes[i].pitch : notes[i].pitch + plan.shift;
      keys[i] = k >= 0 && k <= 127 ? k : -1;
      if (!drum && keys[i] >= 0)
        notes[i].pitch = (uint8_t)k;
      /* a pitched note the class cannot play is dropped (and not labelled) */
      if (!drum && (k < render_classes[plan.cls].lo - 2 || k > render_classes[plan.cls].hi + 2))
        keys[i] = -1;
    }
    memset(stem, 0, 2 * frames * sizeof(float));
    memset(played, 0, part->n_notes);
    if (plan.source == SOURCE_SAMPLER) {
      /* Few recorded notes near this part's range (the collection has 5 cello notes and one
       * double bass note): when most notes would stay silent, FluidSynth plays the part. */
      size_t wanted = 0, near = 0;
      for (size_t i = 0; i < part->n_notes; i++) {
        if (keys[i] < 0 || notes[i].end_s <= 0 || notes[i].start_s >= len_s)
          continue;
        wanted++;
        near += sampler_can_play(eng->cfg.library, plan.cls, keys[i], 7);
      }
      render_options fluid_only = *opt;
      fluid_only.sampler_prob = 0.0;
      if (2 * near < wanted && !pick_source(eng, &fluid_only, &srng, &plan, drum, part->program))
        continue;
    }
    if (plan.source == SOURCE_FLUID) {
      if (fluid_render(eng, plan.sf, plan.bank, plan.program, drum, notes, part->n_notes, keys,
                       stem, frames, errbuf, errlen) != 0)
        goto fail;
      for (size_t i = 0; i < part->n_notes; i++)
        played[i] = keys[i] >= 0 && notes[i].end_s > 0 && notes[i].start_s * rate < (double)frames;
    } else if (plan.source == SOURCE_SAMPLER) {
      for (size_t i = 0; i < part->n_notes; i++)
        if (keys[i] < 0)
          notes[i].end_s = -1.0; /* makes the sampler skip it */
      if (sampler_render_part(eng->cfg.library, plan.cls, notes, part->n_notes, 0.0, 7, stem,
                              frames, (int)rate, stem_seed, played, errbuf, errlen) < 0)
        goto fail;
    } else if (plan.source == SOURCE_SYNTH) {
      for (size_t i = 0; i < part->n_notes; i++)
        if (keys[i] < 0)
          notes[i].end_s = -1.0; /* makes the synthesizer skip it */
      if (synth_render_part(&plan.patch, notes, part->n_notes, stem, frames, (int)rate, stem_seed,
                            played, errbuf, errlen) < 0)
        goto fail;
    } else if (plan.source == SOURCE_SFZ) {
      for (size_t i = 0; i < part->n_notes; i++)
        if (keys[i] < 0)
          notes[i].end_s = -1.0; /* makes the player skip it */
      if (sfz_render_part(eng->cfg.sfz[plan.sfz], notes, part->n_notes, 0.0, stem, frames,
                          (int)rate, played, errbuf, errlen) < 0)
        goto fail;
    } else {
      if (drumkit_render_part(eng->cfg.library, plan.kit, notes, part->n_notes, 0.0, stem, frames,
                              (int)rate, stem_seed, played, errbuf, errlen) < 0)
        goto fail;
    }
    size_t n_played = 0;
    for (size_t i = 0; i < part->n_notes; i++) {
      if (!played[i])
        continue;
      double on = notes[i].start_s < 0 ? 0 : notes[i].start_s;
      double off = notes[i].end_s * rate > (double)frames ? (double)frames / rate : notes[i].end_s;
      if (drum) /* a hit sounds for a while after its (often instant) note-off */
        off = fmax(off, fmin(on + 0.1, (double)frames / rate));
      if (off - on < 1e-3)
        continue;
      render_label l = {(uint32_t)llround(on * rate),
                        (uint32_t)llround(off * rate),
                        drum ? render_class_of_drum_key(notes[i].pitch) : plan.cls,
                        notes[i].pitch,
                        notes[i].start_beat,
                        notes[i].dur_beats};
      if (!push_label(piece, &label_cap, l)) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
      }
      n_played++;
    }
    if (n_played == 0) {
      keep -= (size_t)(generated && gen_extra);
      continue;
    }
    if (match_register && anchor < 0 && median >= 0)
      anchor = median + plan.shift; /* the first pitched part sets the register */
    stem_effects(stem, frames, rate, &srng, opt->vary);
    for (size_t i = 0; i < 2 * frames; i++)
      piece->audio[i] += stem[i];
    if (n_stems == 0 && !drum && plan.source == SOURCE_FLUID)
      piece->first_program = plan.program;
    if (plan.source == SOURCE_SYNTH)
      piece->synth_classes |= 1u << plan.cls;
    desc_len +=
        (size_t)snprintf(piece->description + desc_len, sizeof(piece->description) - desc_len,
                         "%s%s", n_stems ? " + " : "", plan.what);
    if (desc_len >= sizeof(piece->description))
      desc_len = sizeof(piece->description) - 1;
    n_stems++;
  }

  /* A recorded phrase on top now and then: real playing, articulation and vibrato. */
  sample_library *lib = eng->cfg.library;
  if (opt->vary && (opt->sources & SOURCE_SAMPLER) && n_stems < max_k &&
      splitmix_uniform(&rng) < opt->phrase_prob) {
    int n = 0, cls = -1;
    for (int c = 0; c < TAXONOMY_N; c++)
      if (sample_library_phrases_of_class(lib, c) > 0 && !(opt->excluded_classes & (1u << c)) &&
          splitmix_below(&rng, (uint64_t)++n) == 0)
        cls = c;
    if (cls >= 0) {
      memset(stem, 0, 2 * frames * sizeof(float));
      size_t at = (size_t)(splitmix_range(&rng, 0.0, 0.6) * (double)frames);
      int note = 0;
      long len = sampler_add_phrase(lib, cls, splitmix_next(&rng), stem, frames, at, (int)rate,
                                    &note, errbuf, errlen);
      if (len < 0)
        goto fail;
      render_label l = {(uint32_t)at, (uint32_t)(at + (size_t)len), cls, note, -1.0, -1.0};
      if (len > (long)(0.1 * rate)) {
        if (!push_label(piece, &label_cap, l)) {
          snprintf(errbuf, errlen, "out of memory");
          goto fail;
        }
        stem_effects(stem, frames, rate, &rng, 1);
        for (size_t i = 0; i < 2 * frames; i++)
          piece->audio[i] += stem[i];
        desc_len +=
            (size_t)snprintf(piece->description + desc_len, sizeof(piece->description) - desc_len,
                             "%s%s[phrase]", n_stems ? " + " : "", instrid_taxonomy[cls]);
        n_stems++;
      }
    }
  }
  if (n_stems == 0) {
    snprintf(errbuf, errlen, "no part could be rendered");
    goto fail;
  }

  /* the room, the microphone and the compressor of a real recording, from their own stream of
   * random numbers (the draws above stay as they were) */
  splitmix_rng arng = splitmix_derive(seed, 3);
  if (opt->room_prob > 0 && splitmix_uniform(&arng) < opt->room_prob &&
      apply_room(eng, piece, &arng, errbuf, errlen, &desc_len) != 0)
    goto fail;
  if (opt->mic_prob > 0 && splitmix_uniform(&arng) < opt->mic_prob) {
    acoustics_mic_colour(piece->audio, frames, rate, &arng);
    append_description(piece, &desc_len, " | mic");
  }
  if (opt->compress_prob > 0 && splitmix_uniform(&arng) < opt->compress_prob) {
    master_peak(piece->audio, frames, 0.9f);
    double ratio = splitmix_range(&arng, 2.0, 8.0);
    acoustics_compress(piece->audio, frames, rate, splitmix_range(&arng, -30.0, -10.0), ratio,
                       splitmix_range(&arng, 1.0, 20.0), splitmix_range(&arng, 50.0, 300.0));
    char what[32];
    snprintf(what, sizeof what, " | comp %.0f:1", ratio);
    append_description(piece, &desc_len, what);
  }

  /* master: peak to a random level, never clipping */
  float peak = 0.0f;
  for (size_t i = 0; i < 2 * frames; i++)
    peak = fmaxf(peak, fabsf(piece->audio[i]));
  if (peak > 0.0f) {
    float g = (float)((opt->vary ? splitmix_range(&rng, 0.4, 0.95) : 0.8) / peak);
    for (size_t i = 0; i < 2 * frames; i++)
      piece->audio[i] *= g;
  }
  /* last, as a real file arrives: through a lossy codec */
  if (opt->codec_prob > 0 && splitmix_uniform(&arng) < opt->codec_prob) {
    static const int lo_kbps[AUDIO_N_CODECS] = {32, 48, 16},
                     hi_kbps[AUDIO_N_CODECS] = {192, 192, 128};
    audio_codec codec = (audio_codec)splitmix_below(&arng, AUDIO_N_CODECS);
    int kbps = lo_kbps[codec] +
               (int)splitmix_below(&arng, (uint64_t)(hi_kbps[codec] - lo_kbps[codec] + 1));
    if (audio_codec_roundtrip(piece->audio, frames, 2, (int)rate, codec, kbps, errbuf, errlen) != 0)
      goto fail;
    char what[32];
    snprintf(what, sizeof what, " | %s %d kb/s", audio_codec_name(codec), kbps);
    append_description(piece, &desc_len, what);
  }
  qsort(piece->labels, piece->n_labels, sizeof(render_label), cmp_label);
  /* class_seconds: union of each class's notes, so chords are not counted many times */
  for (int c = 0; c < TAXONOMY_N; c++) {
    uint32_t covered_to = 0;
    double s = 0.0;
    for (size_t i = 0; i < piece->n_labels; i++) {
      const render_label *l = &piece->labels[i];
      if (l->cls != c || l->end <= covered_to)
        continue;
      uint32_t from = l->start > covered_to ? l->start : covered_to;
      s += (double)(l->end - from) / rate;
      covered_to = l->end;
    }
    piece->class_seconds[c] = s;
  }
  free(stem);
  free(notes);
  free(keys);
  free(played);
  free(gen.notes);
  return 0;
fail:
  free(stem);
  free(notes);
  free(keys);
  free(played);
  free(gen.notes);
  render_piece_clear(piece);
  return -1;
}
