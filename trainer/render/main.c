/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* main.c — instrid-render: renders MIDI files into labelled training corpora in the MusicNet and
 * OpenMIC-2018 layouts, or the built-in example with --example.
 */
#include <dirent.h>
#include <getopt.h>
#include <gst/gst.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "acoustics.h"
#include "audio.h"
#include "corpus.h"
#include "render.h"

static const char *default_soundfonts[] = {
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
};
#define DEFAULT_DRUMKITS "/usr/share/hydrogen/data/drumkits"

static void usage(FILE *f)
{
  fprintf(
      f,
      "Usage: instrid-render [OPTION]... --out DIR MIDI_PATH...\n"
      "       instrid-render [OPTION]... --notes N --out DIR\n"
      "       instrid-render --example OUT.wav\n"
      "Renders MIDI files (files or directories, searched recursively for .mid/.midi) into a "
      "labelled\n"
      "corpus: every part gets a class and a sound source at random among those that fit it\n"
      "(FluidSynth through GM SoundFonts, the Philharmonia sampler, Hydrogen drum kits, SFZ\n"
      "libraries, the built-in synthesizer with --synth-prob), tempo, transposition, gain, pan,\n"
      "EQ and reverb vary, and the stems are mixed with exact labels.\n"
      "\n"
      "Output:\n"
      "  --out DIR              corpus root: DIR/musicnet and/or DIR/openmic\n"
      "  --layout L             musicnet, openmic or both (default both)\n"
      "  --hours H              render about H hours of audio in all, songs drawn at random\n"
      "  --pieces N             without --hours: N pieces per layout (default: one per MIDI file)\n"
      "  --excerpt S            MusicNet pieces: S-second excerpts from random places (default 0 "
      "=\n"
      "                         whole songs; with --hours 0 means 30)\n"
      "  --clip S               OpenMIC clip length in seconds (default 10, as published)\n"
      "  --openmic-share F      share of --hours in the OpenMIC layout when both (default 0.5)\n"
      "  --test-fraction F      pieces that go to test_data / split01_test (default 0.2)\n"
      "  --withheld F           OpenMIC: fraction of each clip's (clip, class) pairs left out "
      "of\n"
      "                         the aggregated labels, i.e. unknown (default 0.25; 0 with "
      "--notes)\n"
      "  --all-classes          OpenMIC: label all 25 classes of the taxonomy, not OpenMIC's 20\n"
      "                         (class-map.json names them): bassoon, harpsichord, horn, oboe\n"
      "                         and viola, which parts may play in any clip, become known\n"
      "                         instead of unknown; --notes draws among the 25\n"
      "Isolated notes (NSynth-like; instead of MIDI files, OpenMIC layout only):\n"
      "  --notes N              N clips of one note each: a class drawn evenly among the labelled\n"
      "                         classes the sources can play, one of its GM programs, a pitch in\n"
      "                         its range, velocity 25..127, held 0.5..3.5 s then released\n"
      "                         (drums and cymbals: one hit or a bar of hits). Positive for\n"
      "                         that class only (GM synth basses: bass and synthesizer), every\n"
      "                         other class a known negative (with --synth-prob, synthesizer\n"
      "                         unknown for a note the synthesizer plays as another class).\n"
      "                         --clip defaults to 4 s (1..60)\n"
      "  --notes-lowrate-prob P probability of writing a clip at 16 kHz, band-limited as\n"
      "                         low-rate recordings are (default 0.25)\n"
      "Sources:\n"
      "  --soundfont FILE       a GM SoundFont (.sf2/.sf3); repeatable. Default: those installed "
      "of\n"
      "                         FluidR3_GM.sf2, TimGM6mb.sf2, MuseScore_General.sf3\n"
      "  --philharmonia DIR     Philharmonia samples (DIR/data.csv); default none\n"
      "  --drumkits DIR         Hydrogen drum kits (default " DEFAULT_DRUMKITS " if present)\n"
      "  --sfz CLASS=FILE       a real multisampled library (SFZ) that plays CLASS (drums: GM\n"
      "                         percussion parts, labelled drums or cymbals by key); repeatable\n"
      "  --sfz-prob P           probability of an SFZ library when another source could play\n"
      "                         the class too (default 0.5)\n"
      "  --synth-prob P         probability that the built-in synthesizer plays a pitched part\n"
      "                         or note whose class it has patches for (default 0 = never):\n"
      "                         analog and FM basses, breath and synthetic flutes, drawbar\n"
      "                         organs, FM electric pianos, clavs, additive pianos, marimba,\n"
      "                         xylophone, vibraphone and FM bells, plucked and electric\n"
      "                         guitars, formant voices, bowed strings, brass, reeds, supersaw\n"
      "                         leads, PWM pads and synth leads, every parameter drawn at\n"
      "                         random. Shown as CLASS[synth FAMILY]. Labelled as its class; in\n"
      "                         the OpenMIC layout synthesizer is then unknown (left out) unless\n"
      "                         another part is one\n"
      "  --no-fluidsynth / --no-sampler / --no-kits / --no-sfz / --no-synth\n"
      "                         leave a kind of source out\n"
      "  --cache-mb N           memory for decoded samples (default 1024)\n"
      "Mixing:\n"
      "  --max-instruments N    parts kept per piece, 1..6 (default 6)\n"
      "  --solo-prob P          probability of a solo piece (default 0.25)\n"
      "  --reassign-prob P      probability that a part with a GM program gets another class that\n"
      "                         fits its range (default 0.35); parts without one always do\n"
      "  --drums-prob P         probability that a piece without a percussion part gets a\n"
      "                         generated beat over its whole length at its tempo and meter\n"
      "                         (4/4 when unknown): kick/snare grooves, hi-hat or ride, crashes,\n"
      "                         tom fills, humanised; played by the drum sources, labelled drums\n"
      "                         and cymbals, shown as drums[generated, ...]. It counts within\n"
      "                         --max-instruments (replaces a part when they fill it; none for\n"
      "                         solo pieces or --max-instruments 1). Default 0\n"
      "  --match-register P     probability that a piece's pitched parts are moved by octaves\n"
      "                         into the first part's register (each part's median note within a\n"
      "                         tritone of the first's, where its class's range allows): the\n"
      "                         instruments that hide each other in one register. Default 0\n"
      "  --class-weight C=W     odds of class C, 0..100 (default 1; 0 = never), wherever a class\n"
      "                         is drawn: for a reassigned part among those its range fits, for\n"
      "                         an isolated note among those the sources play; repeatable. For\n"
      "                         classes that range makes rare in mixtures (flute, trumpet, ...)\n"
      "  --phrase-prob P        probability of adding a recorded Philharmonia phrase (default "
      "0.15)\n"
      "  --sampler-prob P       probability of the sampler when FluidSynth could play a class too\n"
      "                         (default 0.5)\n"
      "  --no-vary              no random tempo, transposition, gain, pan, EQ or reverb\n"
      "Acoustics of real recordings (each piece, each at its probability; default 0 = never):\n"
      "  --room-prob P          convolve the mix with a room: a response from --ir-dir half the\n"
      "                         time when given, else a synthetic one\n"
      "  --ir-dir DIR           room impulse responses (.wav, any rate; first 1.5 s used)\n"
      "  --mic-prob P           a microphone's EQ colour (low cut, presence, high roll-off)\n"
      "  --compress-prob P      a compressor (2:1 to 8:1, threshold -30..-10 dBFS)\n"
      "  --codec-prob P         a lossy round trip: mp3 32-192, Vorbis 48-192 or Opus 16-128 kb/s\n"
      "Run:\n"
      "  --seed N               everything random derives from it (default 1); same seed, same "
      "bytes\n"
      "  --jobs N               rendering threads (default 1); the output does not depend on it\n"
      "  --quiet                no progress lines on stderr\n"
      "  --example OUT.wav      render the built-in ~30 s example (piano, then violin, then flute "
      "and\n"
      "                         drums) with a GM SoundFont and print what plays when\n"
      "  --help                 this text\n"
      "  --version              the version\n"
      "Exit status: 0 done, 1 failed (said on stderr), 2 bad arguments.\n");
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !(v >= lo && v <= hi))
    return 0;
  *out = v;
  return 1;
}

static int run_example(const char *out_path, const render_config *cfg)
{
  char err[512];
  render_config c = *cfg;
  c.library = NULL;
  if (c.n_soundfonts == 0) {
    fprintf(stderr, "instrid-render: no GM SoundFont found (install fluid-soundfont-gm or pass "
                    "--soundfont)\n");
    return 1;
  }
  c.n_soundfonts =
      1; /* the first (FluidR3 when installed): the example sounds the same everywhere */
  render_engine *eng = render_engine_new(&c, err, sizeof(err));
  smf_song *song = render_example_song();
  if (!eng || !song) {
    fprintf(stderr, "instrid-render: %s\n", eng ? "out of memory" : err);
    render_engine_free(eng);
    smf_song_free(song);
    return 1;
  }
  render_options ro;
  render_options_as_written(&ro, SOURCE_FLUID);
  render_piece pc;
  int rc = render_song(eng, song, &ro, 1, &pc, err, sizeof(err));
  if (rc == 0)
    rc = audio_write_wav(out_path, pc.audio, pc.frames, 2, c.rate_hz, err, sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "instrid-render: %s\n", err);
  } else {
    fprintf(stderr, "instrid-render: wrote %s (%.1f s, stereo, %d Hz): %s\n", out_path,
            (double)pc.frames / c.rate_hz, c.rate_hz, pc.description);
    /* what plays in each 10-s section, from the labels */
    for (int sec = 0; sec < 3; sec++) {
      uint32_t a = (uint32_t)(sec * 10 * c.rate_hz), b = (uint32_t)((sec + 1) * 10 * c.rate_hz);
      fprintf(stderr, "  %d:%02d-%d:%02d ", sec * 10 / 60, sec * 10 % 60, (sec + 1) * 10 / 60,
              (sec + 1) * 10 % 60);
      int first = 1;
      for (int k = 0; k < TAXONOMY_N; k++)
        for (size_t i = 0; i < pc.n_labels; i++)
          if (pc.labels[i].cls == k && pc.labels[i].start < b && pc.labels[i].end > a) {
            fprintf(stderr, "%s%s", first ? "" : ", ", instrid_taxonomy[k]);
            first = 0;
            break;
          }
      fputc('\n', stderr);
    }
  }
  render_piece_clear(&pc);
  smf_song_free(song);
  render_engine_free(eng);
  return rc == 0 ? 0 : 1;
}

/* An OPTION CLASS=VALUE argument: the class's index and *value pointing after the '=', or -1
 * after a message naming the option (what = the VALUE's name in the message). */
static int class_argument(const char *option, const char *arg, const char *what, const char **value)
{
  const char *eq = strchr(arg, '=');
  char cls_name[64];
  if (!eq || (size_t)(eq - arg) >= sizeof cls_name) {
    fprintf(stderr, "instrid-render: --%s %s: want CLASS=%s\n", option, arg, what);
    return -1;
  }
  memcpy(cls_name, arg, (size_t)(eq - arg));
  cls_name[eq - arg] = '\0';
  int cls = instrid_taxonomy_index(cls_name);
  if (cls < 0)
    fprintf(stderr, "instrid-render: --%s %s: '%s' is not a class\n", option, arg, cls_name);
  *value = eq + 1;
  return cls;
}

/* --class-weight CLASS=W: W in [0, 100] becomes the class's odds in every class draw. */
static int parse_class_weight(const char *arg, render_options *opt)
{
  const char *value;
  int cls = class_argument("class-weight", arg, "WEIGHT", &value);
  double w;
  if (cls < 0)
    return -1;
  if (!parse_double(value, 0, 100, &w)) {
    fprintf(stderr, "instrid-render: --class-weight %s: the weight must be a number in 0..100\n",
            arg);
    return -1;
  }
  opt->class_weight[cls] = w;
  return 0;
}

/* --sfz CLASS=FILE arguments into cfg->sfz; warnings from the reader are shown when verbose. */
static int load_sfz(const char *const *args, int n, render_config *cfg, int verbose)
{
  for (int i = 0; i < n; i++) {
    const char *file;
    int cls = class_argument("sfz", args[i], "FILE", &file);
    if (cls < 0)
      return -1;
    if (cls == TAX_CYMBALS)
      cls = TAX_DRUMS; /* a kit plays GM percussion parts; keys say drums or cymbals */
    char err[512], warn[2048];
    sfz_instrument *ins = sfz_load(file, err, sizeof err, warn, sizeof warn);
    if (!ins) {
      fprintf(stderr, "instrid-render: --sfz %s: %s\n", args[i], err);
      return -1;
    }
    if (verbose && warn[0])
      fprintf(stderr, "%s", warn);
    cfg->sfz[cfg->n_sfz] = ins;
    cfg->sfz_class[cfg->n_sfz++] = cls;
  }
  return 0;
}

static int has_wav_suffix(const char *name)
{
  size_t n = strlen(name);
  return n > 4 && strcasecmp(name + n - 4, ".wav") == 0;
}

static int compare_strings(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every .wav in dir (sorted, so that the same folder gives the same indices) as a mono room
 * response at cfg->rate_hz, at most 1.5 s. */
static int load_irs(const char *dir, render_config *cfg, int verbose)
{
  if (!dir)
    return 0;
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "instrid-render: --ir-dir %s: %s\n", dir, strerror(errno));
    return -1;
  }
  char *names[256];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < 256)
    if (e->d_name[0] != '.' && has_wav_suffix(e->d_name))
      names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, (size_t)n, sizeof names[0], compare_strings);
  float **irs = calloc((size_t)(n ? n : 1), sizeof *irs);
  size_t *lens = calloc((size_t)(n ? n : 1), sizeof *lens);
  int k = 0, rc = 0;
  for (int i = 0; i < n && irs && lens; i++) {
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, names[i] ? names[i] : "");
    float *x = NULL;
    size_t frames = 0;
    if (!names[i] || audio_decode_file(path, cfg->rate_hz, 1, &x, &frames, err, sizeof err) != 0) {
      fprintf(stderr, "instrid-render: --ir-dir: %s\n", names[i] ? err : "out of memory");
      rc = -1;
      break;
    }
    size_t len = acoustics_prepare_ir(x, frames, (size_t)(1.5 * cfg->rate_hz));
    if (len == 0) {
      free(x);
      continue;
    }
    irs[k] = x;
    lens[k++] = len;
  }
  for (int i = 0; i < n; i++)
    free(names[i]);
  if (!irs || !lens || rc != 0 || k == 0) {
    if (rc == 0)
      fprintf(stderr, "instrid-render: --ir-dir %s: %s\n", dir,
              irs && lens ? "no usable .wav response" : "out of memory");
    for (int i = 0; irs && i < k; i++)
      free(irs[i]);
    free(irs);
    free(lens);
    return -1;
  }
  if (verbose)
    fprintf(stderr, "instrid-render: %d room responses from %s\n", k, dir);
  cfg->irs = (const float *const *)irs;
  cfg->ir_frames = lens;
  cfg->n_irs = k;
  return 0;
}

static void free_extras(render_config *cfg)
{
  for (int i = 0; i < cfg->n_sfz; i++)
    sfz_free(cfg->sfz[i]);
  cfg->n_sfz = 0;
  for (int i = 0; i < cfg->n_irs; i++)
    free((float *)cfg->irs[i]);
  free((void *)cfg->irs);
  free((void *)cfg->ir_frames);
  cfg->n_irs = 0;
}

int main(int argc, char **argv)
{
  enum {
    O_OUT = 256,
    O_LAYOUT,
    O_HOURS,
    O_PIECES,
    O_EXCERPT,
    O_CLIP,
    O_OM_SHARE,
    O_TEST,
    O_WITHHELD,
    O_SF,
    O_PHIL,
    O_KITS,
    O_NO_FLUID,
    O_NO_SAMPLER,
    O_NO_KITS,
    O_CACHE,
    O_MAX_INST,
    O_SOLO,
    O_REASSIGN,
    O_PHRASE,
    O_SAMPLER,
    O_NO_VARY,
    O_SEED,
    O_JOBS,
    O_QUIET,
    O_EXAMPLE,
    O_HELP,
    O_SFZ,
    O_SFZ_PROB,
    O_NO_SFZ,
    O_IR_DIR,
    O_ROOM,
    O_MIC,
    O_COMPRESS,
    O_CODEC,
    O_VERSION,
    O_MATCH_REGISTER,
    O_NOTES,
    O_NOTES_LOWRATE,
    O_DRUMS,
    O_SYNTH_PROB,
    O_NO_SYNTH,
    O_CLASS_WEIGHT,
    O_ALL_CLASSES
  };
  static const struct option longopts[] = {
      {"out", required_argument, 0, O_OUT},
      {"layout", required_argument, 0, O_LAYOUT},
      {"hours", required_argument, 0, O_HOURS},
      {"pieces", required_argument, 0, O_PIECES},
      {"excerpt", required_argument, 0, O_EXCERPT},
      {"clip", required_argument, 0, O_CLIP},
      {"openmic-share", required_argument, 0, O_OM_SHARE},
      {"test-fraction", required_argument, 0, O_TEST},
      {"withheld", required_argument, 0, O_WITHHELD},
      {"all-classes", no_argument, 0, O_ALL_CLASSES},
      {"soundfont", required_argument, 0, O_SF},
      {"philharmonia", required_argument, 0, O_PHIL},
      {"drumkits", required_argument, 0, O_KITS},
      {"no-fluidsynth", no_argument, 0, O_NO_FLUID},
      {"no-sampler", no_argument, 0, O_NO_SAMPLER},
      {"no-kits", no_argument, 0, O_NO_KITS},
      {"cache-mb", required_argument, 0, O_CACHE},
      {"max-instruments", required_argument, 0, O_MAX_INST},
      {"solo-prob", required_argument, 0, O_SOLO},
      {"reassign-prob", required_argument, 0, O_REASSIGN},
      {"phrase-prob", required_argument, 0, O_PHRASE},
      {"sampler-prob", required_argument, 0, O_SAMPLER},
      {"no-vary", no_argument, 0, O_NO_VARY},
      {"seed", required_argument, 0, O_SEED},
      {"jobs", required_argument, 0, O_JOBS},
      {"quiet", no_argument, 0, O_QUIET},
      {"example", required_argument, 0, O_EXAMPLE},
      {"help", no_argument, 0, O_HELP},
      {"sfz", required_argument, 0, O_SFZ},
      {"sfz-prob", required_argument, 0, O_SFZ_PROB},
      {"no-sfz", no_argument, 0, O_NO_SFZ},
      {"ir-dir", required_argument, 0, O_IR_DIR},
      {"room-prob", required_argument, 0, O_ROOM},
      {"mic-prob", required_argument, 0, O_MIC},
      {"compress-prob", required_argument, 0, O_COMPRESS},
      {"codec-prob", required_argument, 0, O_CODEC},
      {"version", no_argument, 0, O_VERSION},
      {"notes", required_argument, 0, O_NOTES},
      {"notes-lowrate-prob", required_argument, 0, O_NOTES_LOWRATE},
      {"drums-prob", required_argument, 0, O_DRUMS},
      {"match-register", required_argument, 0, O_MATCH_REGISTER},
      {"synth-prob", required_argument, 0, O_SYNTH_PROB},
      {"no-synth", no_argument, 0, O_NO_SYNTH},
      {"class-weight", required_argument, 0, O_CLASS_WEIGHT},
      {0, 0, 0, 0}};
  corpus_options co;
  memset(&co, 0, sizeof(co));
  co.musicnet = co.openmic = 1;
  co.clip_s = 10.0;
  co.openmic_share = 0.5;
  co.test_fraction = 0.2;
  co.withheld_fraction = 0.25;
  co.notes_lowrate_prob = 0.25;
  co.seed = 1;
  co.jobs = 1;
  co.verbose = 1;
  render_options_default(&co.options);
  co.config.rate_hz = 44100;
  const char *phil_dir = NULL, *kits_dir = NULL, *example = NULL, *ir_dir = NULL;
  const char *sfz_args[RENDER_MAX_SFZ];
  int n_sfz_args = 0;
  int user_sf = 0, no_kits = 0, clip_given = 0, withheld_given = 0, layout_given = 0;
  int hours_given = 0;
  double v;
  size_t cache_mb = 1024;
  int opt;
  while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    int bad = 0;
    switch (opt) {
    case O_OUT:
      co.out_dir = optarg;
      break;
    case O_LAYOUT:
      layout_given = 1;
      co.musicnet = strcmp(optarg, "musicnet") == 0 || strcmp(optarg, "both") == 0;
      co.openmic = strcmp(optarg, "openmic") == 0 || strcmp(optarg, "both") == 0;
      bad = !co.musicnet && !co.openmic;
      break;
    case O_HOURS:
      bad = !parse_double(optarg, 1e-4, 1e4, &co.hours);
      hours_given = 1;
      break;
    case O_PIECES:
      bad = !parse_double(optarg, 1, 1e7, &v);
      co.pieces = (size_t)v;
      break;
    case O_EXCERPT:
      bad = !parse_double(optarg, 0, 3600, &co.musicnet_excerpt_s);
      break;
    case O_CLIP:
      bad = !parse_double(optarg, 1, 600, &co.clip_s);
      clip_given = 1;
      break;
    case O_OM_SHARE:
      bad = !parse_double(optarg, 0, 1, &co.openmic_share);
      break;
    case O_TEST:
      bad = !parse_double(optarg, 0, 1, &co.test_fraction);
      break;
    case O_WITHHELD:
      bad = !parse_double(optarg, 0, 1, &co.withheld_fraction);
      withheld_given = 1;
      break;
    case O_ALL_CLASSES:
      co.all_classes = 1;
      break;
    case O_SF:
      if (!user_sf)
        co.config.n_soundfonts = 0;
      user_sf = 1;
      if (co.config.n_soundfonts == RENDER_MAX_SOUNDFONTS) {
        fprintf(stderr, "instrid-render: at most %d SoundFonts\n", RENDER_MAX_SOUNDFONTS);
        return 2;
      }
      co.config.soundfonts[co.config.n_soundfonts++] = optarg;
      break;
    case O_PHIL:
      phil_dir = optarg;
      break;
    case O_KITS:
      kits_dir = optarg;
      break;
    case O_NO_FLUID:
      co.options.sources &= ~SOURCE_FLUID;
      break;
    case O_NO_SAMPLER:
      co.options.sources &= ~SOURCE_SAMPLER;
      break;
    case O_NO_KITS:
      co.options.sources &= ~SOURCE_KIT;
      no_kits = 1;
      break;
    case O_CACHE:
      bad = !parse_double(optarg, 0, 1 << 20, &v);
      cache_mb = (size_t)v;
      break;
    case O_MAX_INST:
      bad = !parse_double(optarg, 1, RENDER_MAX_STEMS, &v);
      co.options.max_instruments = (int)v;
      break;
    case O_SOLO:
      bad = !parse_double(optarg, 0, 1, &co.options.solo_prob);
      break;
    case O_REASSIGN:
      bad = !parse_double(optarg, 0, 1, &co.options.reassign_prob);
      break;
    case O_DRUMS:
      bad = !parse_double(optarg, 0, 1, &co.options.drums_prob);
      break;
    case O_MATCH_REGISTER:
      bad = !parse_double(optarg, 0, 1, &co.options.match_register_prob);
      break;
    case O_CLASS_WEIGHT:
      if (parse_class_weight(optarg, &co.options) != 0)
        return 2;
      break;
    case O_PHRASE:
      bad = !parse_double(optarg, 0, 1, &co.options.phrase_prob);
      break;
    case O_SAMPLER:
      bad = !parse_double(optarg, 0, 1, &co.options.sampler_prob);
      break;
    case O_NO_VARY:
      co.options.vary = 0;
      break;
    case O_SEED:
      bad = !parse_double(optarg, 0, 1.8e19, &v);
      co.seed = strtoull(optarg, NULL, 10);
      break;
    case O_JOBS:
      bad = !parse_double(optarg, 1, 64, &v);
      co.jobs = (int)v;
      break;
    case O_QUIET:
      co.verbose = 0;
      break;
    case O_EXAMPLE:
      example = optarg;
      break;
    case O_HELP:
      usage(stdout);
      return 0;
    case O_SFZ:
      if (n_sfz_args == RENDER_MAX_SFZ) {
        fprintf(stderr, "instrid-render: at most %d --sfz libraries\n", RENDER_MAX_SFZ);
        return 2;
      }
      sfz_args[n_sfz_args++] = optarg;
      break;
    case O_SFZ_PROB:
      bad = !parse_double(optarg, 0, 1, &co.options.sfz_prob);
      break;
    case O_NO_SFZ:
      co.options.sources &= ~SOURCE_SFZ;
      break;
    case O_SYNTH_PROB:
      bad = !parse_double(optarg, 0, 1, &co.options.synth_prob);
      break;
    case O_NO_SYNTH:
      co.options.sources &= ~SOURCE_SYNTH;
      break;
    case O_IR_DIR:
      ir_dir = optarg;
      break;
    case O_ROOM:
      bad = !parse_double(optarg, 0, 1, &co.options.room_prob);
      break;
    case O_MIC:
      bad = !parse_double(optarg, 0, 1, &co.options.mic_prob);
      break;
    case O_COMPRESS:
      bad = !parse_double(optarg, 0, 1, &co.options.compress_prob);
      break;
    case O_CODEC:
      bad = !parse_double(optarg, 0, 1, &co.options.codec_prob);
      break;
    case O_NOTES:
      if (!parse_double(optarg, 1, 1e7, &v) || v != floor(v)) {
        fprintf(stderr,
                "instrid-render: --notes '%s': want a whole number of clips, 1 to "
                "10000000\n",
                optarg);
        return 2;
      }
      co.notes = (size_t)v;
      break;
    case O_NOTES_LOWRATE:
      bad = !parse_double(optarg, 0, 1, &co.notes_lowrate_prob);
      break;
    case O_VERSION:
      printf("instrid-render %s\n", INSTRID_VERSION);
      return 0;
    default:
      fprintf(stderr, "instrid-render: see --help\n");
      return 2;
    }
    if (bad) {
      const char *name = "?";
      for (const struct option *o = longopts; o->name; o++)
        if (o->val == opt)
          name = o->name;
      fprintf(stderr, "instrid-render: bad value '%s' for --%s\n", optarg, name);
      return 2;
    }
  }
  if (!user_sf)
    for (size_t i = 0; i < sizeof(default_soundfonts) / sizeof(default_soundfonts[0]); i++)
      if (access(default_soundfonts[i], R_OK) == 0)
        co.config.soundfonts[co.config.n_soundfonts++] = default_soundfonts[i];

  gst_init(&argc, &argv);

  if (example)
    return run_example(example, &co.config);

  if (co.notes) {
    const char *why = NULL;
    if (!co.out_dir)
      why = "--notes needs --out DIR";
    else if (optind < argc)
      why = "--notes renders no MIDI files: leave them out";
    else if (layout_given && co.musicnet)
      why = "--notes writes the OpenMIC layout only";
    else if (hours_given || co.pieces)
      why = "--notes N sets the number of clips: no --hours or --pieces";
    else if (clip_given && co.clip_s > 60)
      why = "--clip: an isolated note's clip is 1 to 60 s";
    else if (co.options.drums_prob > 0)
      why = "--drums-prob adds drums to MIDI pieces, not to isolated notes";
    else if (co.options.match_register_prob > 0)
      why = "--match-register matches the parts of MIDI pieces, not isolated notes";
    if (why) {
      fprintf(stderr, "instrid-render: %s (see --help)\n", why);
      return 2;
    }
    co.musicnet = 0;
    co.openmic = 1;
    if (!clip_given)
      co.clip_s = 4.0;
    if (!withheld_given)
      co.withheld_fraction = 0.0; /* every class known: the clip holds one note */
  } else if (!co.out_dir || optind >= argc) {
    fprintf(stderr, "instrid-render: need --out DIR and at least one MIDI file or directory "
                    "(see --help)\n");
    return 2;
  } else if (co.all_classes && !co.openmic) {
    fprintf(stderr, "instrid-render: --all-classes labels the OpenMIC layout, and --layout "
                    "musicnet writes none (MusicNet labels name every class already)\n");
    return 2;
  }
  int status = 2; /* until the inputs are known good */
  sample_library *lib = NULL;
  for (int i = optind; i < argc && !co.notes; i++)
    if (corpus_collect_midi(argv[i], &co.midi_files, &co.n_midi) != 0) {
      fprintf(stderr, "instrid-render: %s: cannot read\n", argv[i]);
      goto out;
    }
  if (co.n_midi == 0 && !co.notes) {
    fprintf(stderr, "instrid-render: no .mid files found\n");
    goto out;
  }
  if (!kits_dir && !no_kits && access(DEFAULT_DRUMKITS, R_OK) == 0)
    kits_dir = DEFAULT_DRUMKITS;
  if (phil_dir && access(phil_dir, R_OK) != 0) {
    fprintf(stderr, "instrid-render: %s: no such directory (--philharmonia)\n", phil_dir);
    goto out;
  }
  char err[512];
  lib = sample_library_open(phil_dir, no_kits ? NULL : kits_dir, cache_mb, err, sizeof(err));
  if (!lib) {
    fprintf(stderr, "instrid-render: %s\n", err);
    status = 1;
    goto out;
  }
  co.config.library = lib;
  if (load_sfz(sfz_args, n_sfz_args, &co.config, co.verbose) != 0 ||
      load_irs(ir_dir, &co.config, co.verbose) != 0)
    goto out; /* status 2 */
  if (co.verbose) {
    size_t notes = 0, phrases = 0;
    for (int c = 0; c < TAXONOMY_N; c++) {
      notes += sample_library_notes_of_class(lib, c);
      phrases += sample_library_phrases_of_class(lib, c);
    }
    if (co.notes)
      fprintf(stderr, "instrid-render: %zu isolated notes of %.1f s", co.notes, co.clip_s);
    else
      fprintf(stderr, "instrid-render: %zu MIDI files", co.n_midi);
    fprintf(stderr, ", %d SoundFonts, %zu Philharmonia notes and %zu phrases, %zu drum kits",
            co.config.n_soundfonts, notes, phrases, sample_library_n_kits(lib));
    if (co.options.synth_prob > 0 && (co.options.sources & SOURCE_SYNTH))
      fprintf(stderr, ", the built-in synthesizer at %g", co.options.synth_prob);
    fputc('\n', stderr);
  }
  status = corpus_render(&co, err, sizeof(err)) == 0 ? 0 : 1;
  if (status != 0)
    fprintf(stderr, "instrid-render: %s\n", err);
out:
  /* every exit after the MIDI list is collected frees it (also when collecting failed half-way) */
  free_extras(&co.config);
  sample_library_free(lib);
  for (size_t i = 0; i < co.n_midi; i++)
    free(co.midi_files[i]);
  free(co.midi_files);
  return status;
}
