/* main.c — instrid-render: renders MIDI files into labelled training corpora in the MusicNet and
 * OpenMIC-2018 layouts, or the built-in example with --example.
 */
#include <getopt.h>
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
      "       instrid-render --example OUT.wav\n"
      "Renders MIDI files (files or directories, searched recursively for .mid/.midi) into a "
      "labelled\n"
      "corpus: every part gets a class and a sound source at random among those that fit it\n"
      "(FluidSynth through GM SoundFonts, the Philharmonia sampler, Hydrogen drum kits), tempo,\n"
      "transposition, gain, pan, EQ and reverb vary, and the stems are mixed with exact labels.\n"
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
      "  --withheld F           OpenMIC: fraction of each clip's 20 (clip, class) pairs left out "
      "of\n"
      "                         the aggregated labels, i.e. unknown (default 0.25)\n"
      "Sources:\n"
      "  --soundfont FILE       a GM SoundFont (.sf2/.sf3); repeatable. Default: those installed "
      "of\n"
      "                         FluidR3_GM.sf2, TimGM6mb.sf2, MuseScore_General.sf3\n"
      "  --philharmonia DIR     Philharmonia samples (DIR/data.csv); default none\n"
      "  --drumkits DIR         Hydrogen drum kits (default " DEFAULT_DRUMKITS " if present)\n"
      "  --no-fluidsynth / --no-sampler / --no-kits   leave a kind of source out\n"
      "  --cache-mb N           memory for decoded samples (default 1024)\n"
      "Mixing:\n"
      "  --max-instruments N    parts kept per piece, 1..6 (default 6)\n"
      "  --solo-prob P          probability of a solo piece (default 0.25)\n"
      "  --reassign-prob P      probability that a part with a GM program gets another class that\n"
      "                         fits its range (default 0.35); parts without one always do\n"
      "  --phrase-prob P        probability of adding a recorded Philharmonia phrase (default "
      "0.15)\n"
      "  --sampler-prob P       probability of the sampler when FluidSynth could play a class too\n"
      "                         (default 0.5)\n"
      "  --no-vary              no random tempo, transposition, gain, pan, EQ or reverb\n"
      "Run:\n"
      "  --seed N               everything random derives from it (default 1); same seed, same "
      "bytes\n"
      "  --jobs N               rendering threads (default 1); the output does not depend on it\n"
      "  --quiet                no progress lines on stderr\n"
      "  --example OUT.wav      render the built-in ~30 s example (piano, then violin, then flute "
      "and\n"
      "                         drums) with a GM SoundFont and print what plays when\n"
      "  --help                 this text\n");
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
  render_options_default(&ro);
  ro.vary = 0;
  ro.reassign_prob = 0;
  ro.sources = SOURCE_FLUID;
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
    O_HELP
  };
  static const struct option longopts[] = {{"out", required_argument, 0, O_OUT},
                                           {"layout", required_argument, 0, O_LAYOUT},
                                           {"hours", required_argument, 0, O_HOURS},
                                           {"pieces", required_argument, 0, O_PIECES},
                                           {"excerpt", required_argument, 0, O_EXCERPT},
                                           {"clip", required_argument, 0, O_CLIP},
                                           {"openmic-share", required_argument, 0, O_OM_SHARE},
                                           {"test-fraction", required_argument, 0, O_TEST},
                                           {"withheld", required_argument, 0, O_WITHHELD},
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
                                           {0, 0, 0, 0}};
  corpus_options co;
  memset(&co, 0, sizeof(co));
  co.musicnet = co.openmic = 1;
  co.clip_s = 10.0;
  co.openmic_share = 0.5;
  co.test_fraction = 0.2;
  co.withheld_fraction = 0.25;
  co.seed = 1;
  co.jobs = 1;
  co.verbose = 1;
  render_options_default(&co.options);
  co.config.rate_hz = 44100;
  const char *phil_dir = NULL, *kits_dir = NULL, *example = NULL;
  int user_sf = 0, no_kits = 0;
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
      co.musicnet = strcmp(optarg, "musicnet") == 0 || strcmp(optarg, "both") == 0;
      co.openmic = strcmp(optarg, "openmic") == 0 || strcmp(optarg, "both") == 0;
      bad = !co.musicnet && !co.openmic;
      break;
    case O_HOURS:
      bad = !parse_double(optarg, 1e-4, 1e4, &co.hours);
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
      break;
    case O_OM_SHARE:
      bad = !parse_double(optarg, 0, 1, &co.openmic_share);
      break;
    case O_TEST:
      bad = !parse_double(optarg, 0, 1, &co.test_fraction);
      break;
    case O_WITHHELD:
      bad = !parse_double(optarg, 0, 1, &co.withheld_fraction);
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
    default:
      fprintf(stderr, "instrid-render: see --help\n");
      return 2;
    }
    if (bad) {
      fprintf(stderr, "instrid-render: bad value '%s' for --%s\n", optarg,
              longopts[opt - O_OUT].name);
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

  if (!co.out_dir || optind >= argc) {
    fprintf(stderr, "instrid-render: need --out DIR and at least one MIDI file or directory "
                    "(see --help)\n");
    return 2;
  }
  for (int i = optind; i < argc; i++)
    if (corpus_collect_midi(argv[i], &co.midi_files, &co.n_midi) != 0) {
      fprintf(stderr, "instrid-render: %s: cannot read\n", argv[i]);
      return 2;
    }
  if (co.n_midi == 0) {
    fprintf(stderr, "instrid-render: no .mid files found\n");
    return 2;
  }
  if (!kits_dir && !no_kits && access(DEFAULT_DRUMKITS, R_OK) == 0)
    kits_dir = DEFAULT_DRUMKITS;
  if (phil_dir && access(phil_dir, R_OK) != 0) {
    fprintf(stderr, "instrid-render: %s: no such directory (--philharmonia)\n", phil_dir);
    return 2;
  }
  char err[512];
  sample_library *lib =
      sample_library_open(phil_dir, no_kits ? NULL : kits_dir, cache_mb, err, sizeof(err));
  if (!lib) {
    fprintf(stderr, "instrid-render: %s\n", err);
    return 1;
  }
  co.config.library = lib;
  if (co.verbose) {
    size_t notes = 0, phrases = 0;
    for (int c = 0; c < TAXONOMY_N; c++) {
      notes += sample_library_notes_of_class(lib, c);
      phrases += sample_library_phrases_of_class(lib, c);
    }
    fprintf(stderr,
            "instrid-render: %zu MIDI files, %d SoundFonts, %zu Philharmonia notes and "
            "%zu phrases, %zu drum kits\n",
            co.n_midi, co.config.n_soundfonts, notes, phrases, sample_library_n_kits(lib));
  }
  int rc = corpus_render(&co, err, sizeof(err));
  if (rc != 0)
    fprintf(stderr, "instrid-render: %s\n", err);
  sample_library_free(lib);
  for (size_t i = 0; i < co.n_midi; i++)
    free(co.midi_files[i]);
  free(co.midi_files);
  return rc == 0 ? 0 : 1;
}
