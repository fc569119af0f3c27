/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_sfz.c — the SFZ reader on small SFZ texts written here (inheritance, #define, #include,
 * default_path, note names, round robins, velocity layers, release triggers, loops, bad lines
 * reported with file:line) and the player on WAV samples written here (pitch, loop, envelope).
 */
#include <gst/gst.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fixtures.h"
#include "sfz.h"

static char root[256];

static const char *at(const char *rel)
{
  static char buf[4][512];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, sizeof buf[0], "%s/%s", root, rel);
  return p;
}

static void write_text(const char *path, const char *text)
{
  FILE *f = fopen(path, "wb");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
}

/* A sine of freq_hz, seconds long, 16-bit mono at rate. */
static void write_sine(const char *path, uint32_t rate, double seconds, double freq_hz)
{
  size_t n = (size_t)(seconds * rate);
  int16_t *x = malloc(n * sizeof *x);
  for (size_t i = 0; x && i < n; i++)
    x[i] = (int16_t)lrint(16000.0 * sin(2.0 * M_PI * freq_hz * (double)i / rate));
  if (!x || fixture_write_wav_pcm16(path, rate, x, n) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
  free(x);
}

static void test_note_names(void)
{
  CHECK(sfz_parse_note("60") == 60, "60");
  CHECK(sfz_parse_note("c4") == 60 && sfz_parse_note("C4") == 60, "c4 is middle C");
  CHECK(sfz_parse_note("c#4") == 61 && sfz_parse_note("db4") == 61, "c#4 = db4 = 61");
  CHECK(sfz_parse_note("a4") == 69, "a4 = %d", sfz_parse_note("a4"));
  CHECK(sfz_parse_note("c-1") == 0 && sfz_parse_note("g9") == 127, "ends of the range");
  CHECK(sfz_parse_note("b") == -1 && sfz_parse_note("h4") == -1 && sfz_parse_note("128") == -1 &&
            sfz_parse_note("c4x") == -1 && sfz_parse_note("") == -1,
        "not notes");
}

static const char *const library =
    "// a small library: two velocity layers, two round robins, a release sample, a loop\n"
    "#define $KEYCENTER a4\n"
    "#include \"common.sfzh\"\n"
    "<control> default_path=samples\\\n"
    "<global> amp_veltrack=50 ampeg_release=0.25 fancy_opcode=3\n"
    "<group> lovel=1 hivel=63 seq_length=2\n"
    "<region> sample=soft a.wav seq_position=1 pitch_keycenter=$KEYCENTER lokey=a3 hikey=a5\n"
    "<region> sample=soft b.wav seq_position=2 pitch_keycenter=$KEYCENTER lokey=a3 hikey=a5\n"
    "<group> lovel=64 hivel=127 /* a block\n"
    "   comment */ volume=-6\n"
    "<region> sample=loud.wav key=69 loop_mode=loop_sustain loop_start=100 loop_end=4509\n"
    "         tune=-25 transpose=12\n"
    "<group> trigger=release\n"
    "<region> sample=rel.wav lokey=0 hikey=127 ampeg_attack=0.01 ampeg_decay=0.5 "
    "ampeg_sustain=40\n"
    "this line is not sfz\n"
    "<region sample=broken.wav\n"
    "<region> lokey=10\n";

static void test_parse(void)
{
  write_text(at("common.sfzh"), "<control> set_cc7=100\n");
  mkdir(at("samples"), 0755);
  char dir[300];
  snprintf(dir, sizeof dir, "%s", root);
  char err[512] = "", warn[2048] = "";
  sfz_instrument *ins = sfz_parse(library, "lib.sfz", dir, err, sizeof err, warn, sizeof warn);
  CHECK(ins, "parse: %s", err);
  if (!ins)
    return;
  CHECK(sfz_n_regions(ins) == 4, "regions %zu (warnings: %s)", sfz_n_regions(ins), warn);
  const sfz_region *a = sfz_region_at(ins, 0), *b = sfz_region_at(ins, 1);
  const sfz_region *loud = sfz_region_at(ins, 2), *rel = sfz_region_at(ins, 3);
  if (sfz_n_regions(ins) != 4)
    goto done;
  char want[600];
  snprintf(want, sizeof want, "%s/samples/soft a.wav", root);
  CHECK(strcmp(sfz_sample_path(ins, a->sample), want) == 0,
        "default_path (with a backslash) and a name with a space: %s",
        sfz_sample_path(ins, a->sample));
  CHECK(a->pitch_keycenter == 69 && a->lokey == 57 && a->hikey == 81, "$KEYCENTER, note names");
  CHECK(a->lovel == 1 && a->hivel == 63 && a->seq_length == 2 && a->seq_position == 1 &&
            b->seq_position == 2,
        "group opcodes inherited");
  CHECK(a->amp_veltrack == 50.0 && a->release_s == 0.25 && loud->release_s == 0.25,
        "global opcodes inherited");
  CHECK(loud->lovel == 64 && loud->seq_length == 1 && loud->volume_db == -6.0,
        "a new group forgets the previous group's opcodes");
  CHECK(loud->lokey == 69 && loud->hikey == 69 && loud->pitch_keycenter == 69, "key=");
  CHECK(loud->loop_mode == SFZ_LOOP_SUSTAIN && loud->loop_start == 100 && loud->loop_end == 4509 &&
            loud->tune_cents == -25.0 && loud->transpose == 12,
        "loop, tune, transpose (opcodes on a continuation line)");
  CHECK(rel->trigger == SFZ_TRIGGER_RELEASE && rel->lokey == 0 && rel->hikey == 127 &&
            rel->attack_s == 0.01 && rel->sustain_pct == 40.0,
        "release region");
  CHECK(strstr(warn, "lib.sfz:5: opcode 'fancy_opcode' not supported"), "unknown opcode: %s", warn);
  CHECK(strstr(warn, "lib.sfz:15: 'this' is not opcode=value"), "malformed line: %s", warn);
  CHECK(strstr(warn, "lib.sfz:16: header '<region sample=broken.wav' has no closing '>'"),
        "unterminated header: %s", warn);
  CHECK(strstr(warn, "lib.sfz:17: region without a sample"), "region without sample: %s", warn);
  CHECK(!strstr(warn, "set_cc7"), "known opcodes are not warned about: %s", warn);

  /* Velocity layers and round robins. */
  size_t m[8];
  CHECK(sfz_match(ins, 69, 40, SFZ_TRIGGER_ATTACK, 0, m, 8) == 1 && m[0] == 0, "soft, 1st note");
  CHECK(sfz_match(ins, 69, 40, SFZ_TRIGGER_ATTACK, 1, m, 8) == 1 && m[0] == 1, "soft, 2nd note");
  CHECK(sfz_match(ins, 69, 40, SFZ_TRIGGER_ATTACK, 2, m, 8) == 1 && m[0] == 0, "soft, 3rd note");
  CHECK(sfz_match(ins, 69, 100, SFZ_TRIGGER_ATTACK, 1, m, 8) == 1 && m[0] == 2, "loud");
  CHECK(sfz_match(ins, 70, 100, SFZ_TRIGGER_ATTACK, 0, m, 8) == 0, "no loud region at 70");
  CHECK(sfz_match(ins, 90, 40, SFZ_TRIGGER_ATTACK, 0, m, 8) == 0, "above every range");
  CHECK(sfz_match(ins, 90, 40, SFZ_TRIGGER_RELEASE, 0, m, 8) == 1 && m[0] == 3, "release");
  int lo, hi;
  sfz_key_range(ins, &lo, &hi);
  CHECK(lo == 57 && hi == 81, "key range %d..%d", lo, hi);

  /* The envelope: attack 10 ms, decay 0.5 s to 40 %, then release 0.25 s. */
  CHECK(fabs(sfz_envelope(rel, 0.005, -1) - 0.5) < 1e-9, "half way up the attack");
  CHECK(fabs(sfz_envelope(rel, 0.26, -1) - 0.7) < 1e-9, "half way down the decay: %g",
        sfz_envelope(rel, 0.26, -1));
  CHECK(fabs(sfz_envelope(rel, 2.0, -1) - 0.4) < 1e-9, "sustain");
  CHECK(fabs(sfz_envelope(rel, 2.125, 2.0) - 0.2) < 1e-9, "half way through the release");
  CHECK(sfz_envelope(rel, 2.3, 2.0) == 0.0, "after the release");
done:
  sfz_free(ins);
}

static void test_errors(void)
{
  char err[512] = "", warn[512] = "";
  CHECK(!sfz_load(at("missing.sfz"), err, sizeof err, warn, sizeof warn) &&
            strstr(err, "missing.sfz") && strstr(err, "No such file"),
        "missing file: %s", err);
  CHECK(!sfz_parse("<group> lokey=1\n<region> hikey=3\n", "empty.sfz", root, err, sizeof err, warn,
                   sizeof warn) &&
            strstr(err, "empty.sfz: no region names a sample"),
        "nothing playable: %s", err);
  /* Garbage is survived line by line. */
  sfz_instrument *ins = sfz_parse("<<<>>> ===\n\x01\x02 <region> sample=x.wav lokey=zz\n#bogus\n",
                                  "junk.sfz", root, err, sizeof err, warn, sizeof warn);
  CHECK(ins && sfz_n_regions(ins) == 1 && sfz_region_at(ins, 0)->lokey == 0,
        "junk around one region: %s / %s", err, warn);
  CHECK(strstr(warn, "junk.sfz:2: lokey=zz: value not understood") || strstr(warn, "lokey=zz"),
        "bad value named: %s", warn);
  sfz_free(ins);
  /* A file that includes itself four times: depth 8 alone would read 4^8 files; the total is
   * bounded (256 includes), each read adding its one region. */
  write_text(at("fan.sfz"), "#include \"fan.sfz\"\n#include \"fan.sfz\"\n#include \"fan.sfz\"\n"
                            "#include \"fan.sfz\"\n<region> sample=f.wav key=60\n");
  char fanwarn[16384] = "";
  ins = sfz_load(at("fan.sfz"), err, sizeof err, fanwarn, sizeof fanwarn);
  CHECK(ins && sfz_n_regions(ins) == 1 + 256, "include fan-out bounded: %zu regions (%s)",
        ins ? sfz_n_regions(ins) : 0, err);
  sfz_free(ins);
  /* 300 includes of one small file at depth 1: the first 256 are read, the rest named. */
  write_text(at("leaf.sfz"), "<region> sample=g.wav key=61\n");
  char many[300 * 20 + 1] = "";
  for (int i = 0; i < 300; i++)
    strcat(many, "#include \"leaf.sfz\"\n");
  char manywarn[1024] = "";
  ins = sfz_parse(many, "many.sfz", root, err, sizeof err, manywarn, sizeof manywarn);
  CHECK(ins && sfz_n_regions(ins) == 256, "256 includes read: %zu regions (%s)",
        ins ? sfz_n_regions(ins) : 0, err);
  CHECK(strstr(manywarn, "many.sfz:257: more than 256 #include files in one instrument, ignored"),
        "the first include over the bound is named: %.300s", manywarn);
  sfz_free(ins);
  /* SFZ's built-in generators are not samples; controller modulation is known, not warned */
  ins = sfz_parse("<region> sample=*sine key=60\n<region> sample=y.wav ampeg_attack_oncc100=2\n",
                  "gen.sfz", root, err, sizeof err, warn, sizeof warn);
  CHECK(
      ins && sfz_n_regions(ins) == 1 &&
          strstr(warn, "gen.sfz:1: built-in generator samples (*sine, *noise...) not supported") &&
          !strstr(warn, "oncc"),
      "generator region: %s / %s", err, warn);
  sfz_free(ins);
}

/* Frequency of a stretch of the left channel by counting upward zero crossings. */
static double frequency(const float *x, size_t from, size_t to, int rate)
{
  size_t first = 0, last = 0, n = 0;
  for (size_t i = from + 1; i < to; i++)
    if (x[2 * (i - 1)] < 0.0f && x[2 * i] >= 0.0f) {
      if (n == 0)
        first = i;
      last = i;
      n++;
    }
  return n > 1 ? (double)(n - 1) * rate / (double)(last - first) : 0.0;
}

static double rms(const float *x, size_t from, size_t to)
{
  double s = 0.0;
  for (size_t i = from; i < to; i++)
    s += (double)x[2 * i] * x[2 * i];
  return sqrt(s / (double)(to - from));
}

static void test_render(void)
{
  const int rate = 44100;
  /* 0.5 s of 440 Hz: looped from 0.1 s to its end (an integer number of periods) */
  write_sine(at("samples/a440.wav"), 44100, 0.5, 440.0);
  write_sine(at("samples/click.wav"), 44100, 0.3, 1000.0);
  write_text(at("play.sfz"),
             "<control> default_path=samples/\n"
             "<group> ampeg_release=0.1 amp_veltrack=0\n"
             "<region> sample=a440.wav pitch_keycenter=69 lokey=60 hikey=80\n"
             "<region> sample=a440.wav pitch_keycenter=69 lokey=81 hikey=90\n"
             "  loop_mode=loop_sustain loop_start=4410 loop_end=22049\n"
             "<region> sample=click.wav trigger=release lokey=81 hikey=90 pitch_keycenter=81\n");
  char err[512] = "", warn[512] = "";
  sfz_instrument *ins = sfz_load(at("play.sfz"), err, sizeof err, warn, sizeof warn);
  CHECK(ins && warn[0] == '\0', "load: %s %s", err, warn);
  if (!ins)
    return;
  size_t frames = 3 * (size_t)rate;
  float *out = calloc(2 * frames, sizeof(float));
  /* a4 for 0.3 s at 0; e5 (76: 659.26 Hz) for 0.2 s at 0.7 s; a5 (81, looped, with a release
   * click of 0.3 s at 1000 Hz) held for 1.5 s from 1.0 s */
  smf_note notes[4] = {
      {0.0, 0.3, 0, 1, 69, 100},
      {0.7, 0.9, 1, 1, 76, 100},
      {1.0, 2.5, 2, 3, 81, 100},
      {2.9, 4.0, 5, 1, 30, 100}, /* nothing covers key 30 */
  };
  uint8_t played[4];
  long n = sfz_render_part(ins, notes, 4, 0.0, out, frames, rate, played, err, sizeof err);
  CHECK(n == 3 && played[0] && played[1] && played[2] && !played[3], "played %ld", n);
  double f0 = frequency(out, 1000, 12000, rate);
  CHECK(fabs(f0 - 440.0) < 1.0, "a4 at %g Hz", f0);
  double f1 = frequency(out, (size_t)(0.72 * rate), (size_t)(0.88 * rate), rate);
  CHECK(fabs(f1 - 659.255) < 1.5, "e5 resampled to %g Hz", f1);
  double f2 = frequency(out, (size_t)(1.5 * rate), (size_t)(2.4 * rate), rate);
  CHECK(fabs(f2 - 880.0) < 2.0, "a5 looped at %g Hz", f2);
  /* amp_veltrack=0: full level; the sine's amplitude is 16000/32768 -> RMS 0.345 */
  double held = rms(out, (size_t)(2.0 * rate), (size_t)(2.4 * rate));
  CHECK(fabs(held - 16000.0 / 32768.0 / sqrt(2.0)) < 0.02,
        "the loop keeps the note sounding 1.5 s into a 0.5 s sample: rms %g", held);
  /* the release sample sounds from the note-off (2.5 s) for its 0.3 s, the a5's own release
   * is over at 2.6 s; then silence */
  double fc = frequency(out, (size_t)(2.62 * rate), (size_t)(2.78 * rate), rate);
  CHECK(fabs(fc - 1000.0) < 2.0, "release sample at %g Hz", fc);
  CHECK(rms(out, (size_t)(2.82 * rate), (size_t)(2.99 * rate)) == 0.0, "silent after release");
  /* the release ramps: 50 ms into a 0.1 s release the a4 is at about half its level */
  double mid = rms(out, (size_t)(0.345 * rate), (size_t)(0.355 * rate));
  CHECK(mid > 0.12 && mid < 0.22, "release ramp rms %g", mid);
  CHECK(rms(out, (size_t)(0.41 * rate), (size_t)(0.69 * rate)) == 0.0, "a4 over after release");

  /* A missing sample is an error that names it. */
  write_text(at("bad.sfz"), "<region> sample=samples/none.wav\n");
  sfz_instrument *bad = sfz_load(at("bad.sfz"), err, sizeof err, warn, sizeof warn);
  CHECK(bad, "load bad: %s", err);
  if (bad) {
    smf_note one = {0.0, 0.5, 0, 1, 60, 90};
    err[0] = '\0';
    CHECK(sfz_render_part(bad, &one, 1, 0.0, out, frames, rate, played, err, sizeof err) == -1 &&
              strstr(err, "none.wav"),
          "missing sample: %s", err);
    sfz_free(bad);
  }
  free(out);
  sfz_free(ins);
}

int main(void)
{
  gst_init(NULL, NULL);
  snprintf(root, sizeof root, "/tmp/instrid-sfz-XXXXXX");
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    return 1;
  }
  test_note_names();
  test_parse();
  test_errors();
  test_render();
  if (fixture_remove_tree(root) != 0)
    fprintf(stderr, "could not remove %s\n", root);
  return check_exit();
}
