/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_readers.c — the trainer's data: CSV reader, GM program table, MusicNet and OpenMIC trees
 * written here in their published formats, GStreamer decoding, window targets and masks, split
 * sizes, skipped files, malformed labels, and the feature cache (hit, invalidation, rebuild).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gst/gst.h>

#include "check.h"
#include "csv.h"
#include "dataset.h"
#include "decode.h"
#include "featcache.h"
#include "fixtures.h"
#include "testnet.h"

static char root[256]; /* the scratch directory everything is written under */

/* ---- file helpers ------------------------------------------------------------------------ */

static void write_text(const char *path, const char *text)
{
  if (fixture_write_text(path, text) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
}

static void make_dir(const char *path)
{
  if (mkdir(path, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "cannot create %s\n", path);
    exit(1);
  }
}

static const char *at(const char *fmt, const char *a)
{
  static char buf[8][sizeof root + 512];
  static int next;
  char *p = buf[next++ % 8];
  char rel[512];
  snprintf(rel, sizeof rel, fmt, a);
  snprintf(p, sizeof buf[0], "%s/%s", root, rel);
  return p;
}

/* A 16-bit PCM mono WAV, as MusicNet publishes, of a sine at freq_hz. */
static void write_wav(const char *path, uint32_t rate, double seconds, double freq_hz)
{
  if (fixture_write_wav_sine(path, rate, seconds, freq_hz, 12000.0) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
}

/* A stereo 44.1 kHz Ogg Vorbis clip, as OpenMIC publishes, made by GStreamer itself. */
static void write_ogg(const char *path, double seconds, double freq_hz)
{
  char desc[1024];
  snprintf(desc, sizeof desc,
           "audiotestsrc wave=sine freq=%g volume=0.4 samplesperbuffer=4410 num-buffers=%d ! "
           "audio/x-raw,rate=44100,channels=2 ! audioconvert ! vorbisenc ! oggmux ! "
           "filesink location=\"%s\"",
           freq_hz, (int)lround(seconds * 10), path);
  GError *e = NULL;
  GstElement *p = gst_parse_launch(desc, &e);
  if (!p) {
    fprintf(stderr, "cannot build %s: %s\n", desc, e ? e->message : "?");
    exit(1);
  }
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus(p);
  GstMessage *m =
      gst_bus_timed_pop_filtered(bus, 10 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (!m || GST_MESSAGE_TYPE(m) != GST_MESSAGE_EOS) {
    fprintf(stderr, "encoding %s failed\n", path);
    exit(1);
  }
  gst_message_unref(m);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
}

static size_t count_files(const char *dir)
{
  DIR *d = opendir(dir);
  size_t n = 0;
  if (!d)
    return (size_t)-1;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* stderr is sent to a file while a dataset opens, so the test can read what it reported. */
static int saved_stderr = -1;
static char stderr_path[300];

static void capture_stderr(void)
{
  fflush(stderr);
  snprintf(stderr_path, sizeof stderr_path, "%s/stderr.txt", root);
  int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  saved_stderr = dup(2);
  dup2(fd, 2);
  close(fd);
}

static char *release_stderr(void)
{
  static char text[8192];
  fflush(stderr);
  dup2(saved_stderr, 2);
  close(saved_stderr);
  FILE *f = fopen(stderr_path, "rb");
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  text[n] = '\0';
  if (f)
    fclose(f);
  return text;
}

static size_t count_lines(const char *text)
{
  size_t n = 0;
  for (; *text; text++)
    n += *text == '\n';
  return n;
}

/* ---- front end used throughout: small, so decoding and framing are quick ----------------- */

enum { RATE = 16000, N_FFT = 512, HOP = 256, N_MELS = 24, W = 32, HOP_FRAMES = 16 };

static instrid_frontend_params frontend(void)
{
  instrid_frontend_params p = testnet_frontend(RATE, N_FFT, HOP, N_MELS);
  p.feature_mean = -5.0f;
  p.feature_std = 2.5f;
  return p;
}

static dataset_options options(const char *cache_dir)
{
  dataset_options o = {.window_frames = W,
                       .hop_frames = HOP_FRAMES,
                       .val_fraction = 0.0f,
                       .seed = 1,
                       .cache_dir = cache_dir,
                       .verbose = 0};
  return o;
}

/* Opens the tree src with the test's front end and options, what it says on stderr kept in *said
 * (release_stderr's text; said may be NULL), and checks that it opened with files_ok files read
 * and files_skipped skipped. NULL (reported) when it did not open. */
static train_dataset *open_checked(const dataset_source *src, size_t files_ok, size_t files_skipped,
                                   const char *what, const char **said)
{
  instrid_frontend_params fe = frontend();
  dataset_options opt = options(NULL);
  instrid_error err = {0};
  capture_stderr();
  train_dataset *ds = train_dataset_open(src, 1, &fe, &opt, &err);
  const char *text = release_stderr();
  if (said)
    *said = text;
  CHECK(ds != NULL, "%s: open: %s", what, err.message);
  if (!ds)
    return NULL;
  const dataset_stats *st = train_dataset_stats(ds);
  CHECK(st->files_ok == files_ok && st->files_skipped == files_skipped,
        "%s: files ok %zu skipped %zu, want %zu and %zu", what, st->files_ok, st->files_skipped,
        files_ok, files_skipped);
  return ds;
}

/* Window length in seconds: (W - 1) * hop + n_fft samples = 0.528 s; window w starts at
 * w * HOP_FRAMES * HOP / RATE = 0.256 w s. The MusicNet presence minimum is then 0.1 s. */
static double window_start_s(int w)
{
  return (double)w * HOP_FRAMES * HOP / RATE;
}

/* ---- CSV reader -------------------------------------------------------------------------- */

static void test_csv(void)
{
  const char *path = at("%s", "quoted.csv");
  write_text(path, "\xEF\xBB\xBFid,composition,seconds\r\n"
                   "2155,\"2. Andante, ma moderato\",606\r\n"
                   "\r\n"
                   "2195,\"WTK I, \"\"No 3\"\"\nsecond line\",155\n"
                   "7,,\n"
                   "8,last\n");
  instrid_error err = {0};
  csv_reader *csv = csv_open(path, &err);
  CHECK(csv, "csv_open: %s", err.message);
  if (!csv)
    return;
  static const char *const cols[] = {"id", "composition", "seconds"};
  CHECK(csv_expect_header(csv, cols, 3, &err) == INSTRID_OK, "header: %s", err.message);
  CHECK(csv_next(csv, &err) == 1 && csv_n_fields(csv) == 3, "row 2");
  CHECK(strcmp(csv_field(csv, 1), "2. Andante, ma moderato") == 0, "quoted comma: '%s'",
        csv_field(csv, 1));
  CHECK(csv_line(csv) == 2, "line %zu", csv_line(csv));
  CHECK(csv_next(csv, &err) == 1, "row 4");
  CHECK(strcmp(csv_field(csv, 1), "WTK I, \"No 3\"\nsecond line") == 0, "escaped: '%s'",
        csv_field(csv, 1));
  CHECK(csv_line(csv) == 4, "blank line skipped: line %zu", csv_line(csv));
  long v = 0;
  CHECK(csv_field_long(csv, 2, "seconds", 0, 1000, &v, &err) == INSTRID_OK && v == 155, "155");
  CHECK(csv_next(csv, &err) == 1 && csv_line(csv) == 6, "record after a two-line field");
  CHECK(csv_n_fields(csv) == 3 && csv_field(csv, 1)[0] == '\0' && csv_field(csv, 2)[0] == '\0',
        "empty fields");
  CHECK(csv_field_long(csv, 2, "seconds", 0, 1000, &v, &err) == INSTRID_ERR_FORMAT,
        "empty number accepted");
  CHECK(strstr(err.message, "quoted.csv:6: column 3 (seconds)") != NULL, "message: %s",
        err.message);
  CHECK(csv_next(csv, &err) == 1, "row 7");
  CHECK(csv_expect_fields(csv, 3, &err) == INSTRID_ERR_FORMAT &&
            strstr(err.message, ":7: 2 columns, expected 3"),
        "short row: %s", err.message);
  CHECK(csv_next(csv, &err) == 0, "end of file");
  csv_close(csv);

  write_text(path, "a,b\n1,\"open\n");
  csv = csv_open(path, &err);
  CHECK(csv_next(csv, &err) == 1, "header");
  CHECK(csv_next(csv, &err) == -1 && strstr(err.message, "never closed"), "unterminated: %s",
        err.message);
  csv_close(csv);
  write_text(path, "a,b\n\"x\"y,2\n");
  csv = csv_open(path, &err);
  CHECK(csv_next(csv, &err) == 1 && csv_next(csv, &err) == -1 &&
            strstr(err.message, ":2: column 1: text after the closing quote"),
        "after quote: %s", err.message);
  csv_close(csv);
  CHECK(csv_open(at("%s", "absent.csv"), &err) == NULL && err.code == INSTRID_ERR_IO,
        "missing file");
  csv_close(NULL);
}

/* ---- taxonomy ---------------------------------------------------------------------------- */

static void test_taxonomy(void)
{
  CHECK(instrid_taxonomy_index("accordion") == 0 && instrid_taxonomy_index("voice") == 24,
        "taxonomy ends");
  CHECK(instrid_taxonomy_index("kazoo") == -1 && instrid_taxonomy_index(NULL) == -1, "unknown");
  static const struct {
    int program;
    const char *name;
  } musicnet[] = {{1, "piano"},
                  {7, "harpsichord"},
                  {41, "violin"},
                  {42, "viola"},
                  {43, "cello"},
                  {44, "bass"},
                  {61, "horn"},
                  {69, "oboe"},
                  {71, "bassoon"},
                  {72, "clarinet"},
                  {74, "flute"},
                  {26, "guitar"},
                  {34, "bass"},
                  {57, "trumpet"},
                  {58, "trombone"},
                  {66, "saxophone"},
                  {22, "accordion"},
                  {24, "accordion"},
                  {20, "organ"},
                  {82, "synthesizer"},
                  {106, "banjo"},
                  {54, "voice"},
                  {12, "mallet_percussion"}};
  for (size_t i = 0; i < sizeof musicnet / sizeof musicnet[0]; i++)
    CHECK(instrid_taxonomy_from_gm_program(musicnet[i].program) ==
              instrid_taxonomy_index(musicnet[i].name),
          "program %d -> %s", musicnet[i].program, musicnet[i].name);
  CHECK(instrid_taxonomy_from_gm_program(47) == -1, "harp has no class");
  CHECK(instrid_taxonomy_from_gm_program(0) == -1 && instrid_taxonomy_from_gm_program(129) == -1,
        "out of range");
}

/* ---- trees in the published formats -------------------------------------------------------- */

static const char *const musicnet_header =
    "start_time,end_time,instrument,note,start_beat,end_beat,note_value\n";

/* Recording 1 (3 s): what sounds when, in samples at 44.1 kHz.
 *   violin   [0, 1.0 s)                         windows 0-3 (window 3 overlaps 0.232 s)
 *   piano    [1.80, 1.85 s): 50 ms              below the 0.1 s minimum in window 7
 *   cello    [1.80, 1.86) + [1.86, 1.92)        each 60 ms, together 120 ms: present in w7
 *   horn     two 60 ms notes at once [2.0, 2.06) together only 60 ms: absent
 *   bass     contrabass (44) over all of it     every window
 *   harp     (47) over all of it                no class: ignored
 */
static const char *const recording1_labels = "0,44100,41,69,0.0,1.0,Quarter\n"
                                             "79380,81585,1,60,4.5,0.125,Thirty Second\n"
                                             "79380,82026,43,48,4.5,0.125,Thirty Second\n"
                                             "82026,84672,43,50,4.625,0.125,Thirty Second\n"
                                             "88200,90846,61,60,5.0,0.125,Thirty Second\n"
                                             "88200,90846,61,64,5.0,0.125,Thirty Second\n"
                                             "0,132300,44,40,0.0,7.5,Dotted Whole\n"
                                             "0,132300,47,60,0.0,7.5,Dotted Whole\n";

static void write_musicnet_tree(const char *dir)
{
  char buf[2048];
  make_dir(at("%s", dir));
  make_dir(at("%s/train_data", dir));
  make_dir(at("%s/train_labels", dir));
  make_dir(at("%s/test_data", dir));
  make_dir(at("%s/test_labels", dir));
  snprintf(buf, sizeof buf, "%s/train_data/1.wav", dir);
  write_wav(at("%s", buf), 44100, 3.0, 440.0);
  snprintf(buf, sizeof buf, "%s/train_labels/1.csv", dir);
  char text[2048];
  snprintf(text, sizeof text, "%s%s", musicnet_header, recording1_labels);
  write_text(at("%s", buf), text);

  snprintf(buf, sizeof buf, "%s/train_data/2.wav", dir);
  write_wav(at("%s", buf), 44100, 1.2, 660.0);
  snprintf(buf, sizeof buf, "%s/train_labels/2.csv", dir);
  snprintf(text, sizeof text, "%s0,52920,74,81,0.0,3.0,Dotted Half\n", musicnet_header);
  write_text(at("%s", buf), text);

  /* Audio without labels, and labels with corrupt audio: both skipped and counted. */
  snprintf(buf, sizeof buf, "%s/train_data/3.wav", dir);
  write_wav(at("%s", buf), 44100, 1.0, 330.0);
  snprintf(buf, sizeof buf, "%s/train_data/4.wav", dir);
  write_text(at("%s", buf), "RIFF\x10\x00\x00\x00WAVEjunk: this is not audio at all");
  snprintf(buf, sizeof buf, "%s/train_labels/4.csv", dir);
  write_text(at("%s", buf), musicnet_header);

  /* A test recording shorter than one window: padded with silence. */
  snprintf(buf, sizeof buf, "%s/test_data/1759.wav", dir);
  write_wav(at("%s", buf), 44100, 0.3, 880.0);
  snprintf(buf, sizeof buf, "%s/test_labels/1759.csv", dir);
  snprintf(text, sizeof text, "%s0,13230,69,81,0.0,1.0,Quarter\n", musicnet_header);
  write_text(at("%s", buf), text);

  snprintf(buf, sizeof buf, "%s/musicnet_metadata.csv", dir);
  write_text(at("%s", buf),
             "id,composer,composition,movement,ensemble,source,transcriber,catalog_name,seconds\n"
             "1,Bach,\"WTK I, No 3: Prelude\",1. Prelude,Solo Piano,x,y,BWV848,3\n");
}

static void write_openmic_tree(const char *dir)
{
  char buf[512];
  make_dir(at("%s", dir));
  make_dir(at("%s/audio", dir));
  make_dir(at("%s/audio/000", dir));
  make_dir(at("%s/audio/100", dir));
  make_dir(at("%s/partitions", dir));
  snprintf(buf, sizeof buf, "%s/class-map.json", dir);
  write_text(at("%s", buf),
             "{\n    \"accordion\": 0,\n    \"banjo\": 1,\n    \"bass\": 2,\n    \"cello\": 3,\n"
             "    \"clarinet\": 4,\n    \"cymbals\": 5,\n    \"drums\": 6,\n    \"flute\": 7,\n"
             "    \"guitar\": 8,\n    \"mallet_percussion\": 9,\n    \"mandolin\": 10,\n"
             "    \"organ\": 11,\n    \"piano\": 12,\n    \"saxophone\": 13,\n"
             "    \"synthesizer\": 14,\n    \"trombone\": 15,\n    \"trumpet\": 16,\n"
             "    \"ukulele\": 17,\n    \"violin\": 18,\n    \"voice\": 19\n}");
  snprintf(buf, sizeof buf, "%s/openmic-2018-aggregated-labels.csv", dir);
  write_text(at("%s", buf), "sample_key,instrument,relevance,num_responses\n"
                            "000001_0,clarinet,0.9,3\n"
                            "000001_0,flute,0.3,3\n"
                            "000001_0,drums,0.5,2\n"
                            "000002_10,guitar,1.0,1\n"
                            "000005_0,piano,1.0,1\n"
                            "100003_20,voice,0.0,3\n");
  snprintf(buf, sizeof buf, "%s/partitions/split01_train.csv", dir);
  write_text(at("%s", buf), "000001_0\n000002_10\n000004_0\n000005_0\n");
  snprintf(buf, sizeof buf, "%s/partitions/split01_test.csv", dir);
  write_text(at("%s", buf), "100003_20\n");
  snprintf(buf, sizeof buf, "%s/audio/000/000001_0.ogg", dir);
  write_ogg(at("%s", buf), 1.2, 500.0);
  snprintf(buf, sizeof buf, "%s/audio/000/000002_10.ogg", dir);
  write_ogg(at("%s", buf), 1.2, 700.0);
  snprintf(buf, sizeof buf, "%s/audio/000/000004_0.ogg", dir);
  write_ogg(at("%s", buf), 1.2, 900.0);
  snprintf(buf, sizeof buf, "%s/audio/100/100003_20.ogg", dir);
  write_ogg(at("%s", buf), 1.2, 1100.0);
  /* 000005_0 is labelled but its audio is missing. */
}

/* ---- decoding ---------------------------------------------------------------------------- */

static double rms(const float *x, size_t n)
{
  double s = 0.0;
  for (size_t i = 0; i < n; i++)
    s += (double)x[i] * x[i];
  return sqrt(s / (double)(n ? n : 1));
}

static void test_decode(void)
{
  float *x = NULL;
  size_t n = 0;
  instrid_error err = {0};
  CHECK(decode_audio_file_to_array(at("%s", "mn/train_data/1.wav"), RATE, &x, &n, &err) ==
            INSTRID_OK,
        "decode wav: %s", err.message);
  /* 3 s at 16 kHz; the sine's amplitude is 12000 / 32768, so its RMS is that / sqrt(2). */
  CHECK(n >= 47990 && n <= 48010, "wav samples %zu", n);
  CHECK(fabs(rms(x, n) - 12000.0 / 32768.0 / sqrt(2.0)) < 0.005, "wav rms %g", rms(x, n));
  free(x);
  CHECK(decode_audio_file_to_array(at("%s", "om/audio/000/000001_0.ogg"), RATE, &x, &n, &err) ==
            INSTRID_OK,
        "decode ogg: %s", err.message);
  /* Stereo Vorbis downmixed to mono: both channels carry the same 0.4 sine. */
  CHECK(n >= 19000 && n <= 19400, "ogg samples %zu", n);
  CHECK(fabs(rms(x + 2000, n - 4000) - 0.4 / sqrt(2.0)) < 0.01, "ogg rms %g",
        rms(x + 2000, n - 4000));
  free(x);

  CHECK(decode_audio_file_to_array(at("%s", "mn/train_data/4.wav"), RATE, &x, &n, &err) ==
                INSTRID_ERR_FORMAT &&
            strstr(err.message, "mn/train_data/4.wav") && !strchr(err.message, '\n'),
        "corrupt wav: %d %s", err.code, err.message);
  CHECK(decode_audio_file_to_array(at("%s", "mn/train_labels/1.csv"), RATE, &x, &n, &err) ==
                INSTRID_ERR_FORMAT &&
            strstr(err.message, "1.csv"),
        "text is not audio: %d %s", err.code, err.message);
  CHECK(decode_audio_file_to_array(at("%s", "mn/nothing.wav"), RATE, &x, &n, &err) ==
                INSTRID_ERR_IO &&
            strstr(err.message, "nothing.wav"),
        "missing file: %d %s", err.code, err.message);
  CHECK(x == NULL && n == 0, "outputs cleared on failure");
}

/* The reference: libinstrid's front end run directly on the file decoded on the element's route
 * (the fixtures are 44.1 kHz, where this front end's 16 ms hop is no whole number of samples:
 * resampled), (n_frames, n_mels). */
static float *reference_frames(const char *path, const instrid_frontend_params *model_fe,
                               size_t *n_frames)
{
  float *x = NULL;
  size_t n = 0;
  uint32_t rate = 0;
  instrid_error err = {0};
  instrid_frontend_params at_rate;
  const instrid_frontend_params *fe = &at_rate;
  *n_frames = 0;
  if (decode_audio_file_to_array_routed(path, model_fe, &x, &n, &rate, &err) != INSTRID_OK)
    return NULL;
  CHECK(rate == RATE, "%s: the route took %u Hz, not the model's %u", path, rate, RATE);
  if (instrid_frontend_params_for_rate(model_fe, rate, &at_rate, &err) != INSTRID_OK) {
    free(x);
    return NULL;
  }
  instrid_frontend *f = instrid_frontend_new(fe, &err);
  float *frames = malloc((n / fe->hop_samples + 1) * fe->n_mels * sizeof(float));
  const float *p = x;
  while (f && n > 0) {
    int ready = 0;
    size_t used = instrid_frontend_process(f, p, n, frames + *n_frames * fe->n_mels, &ready);
    p += used;
    n -= used;
    *n_frames += (size_t)ready;
  }
  instrid_frontend_free(f);
  free(x);
  return frames;
}

static float max_feature_diff(const float *features, const float *frames, size_t start_frame,
                              size_t n_real)
{
  float worst = 0.0f;
  for (size_t t = 0; t < n_real; t++)
    for (int m = 0; m < N_MELS; m++) {
      float d = fabsf(features[m * W + t] - frames[(start_frame + t) * N_MELS + m]);
      if (!(d <= worst))
        worst = d;
    }
  return worst;
}

static int cls(const char *name)
{
  return instrid_taxonomy_index(name);
}

/* Checks target and mask of a window against the classes expected present; all known. */
static void check_musicnet_target(const float *target, const float *mask, const char *const *on,
                                  size_t n_on, const char *what)
{
  for (int c = 0; c < TAXONOMY_N; c++) {
    float want = 0.0f;
    for (size_t i = 0; i < n_on; i++)
      if (cls(on[i]) == c)
        want = 1.0f;
    CHECK(target[c] == want, "%s: %s target %g, want %g", what, instrid_taxonomy[c],
          (double)target[c], (double)want);
    CHECK(mask[c] == 1.0f, "%s: %s masked", what, instrid_taxonomy[c]);
  }
}

static void test_musicnet(void)
{
  instrid_frontend_params fe = frontend();
  dataset_source src = {DATASET_MUSICNET, at("%s", "mn")};
  const char *said = NULL;
  train_dataset *ds = open_checked(&src, 3, 2, "musicnet", &said);
  if (!ds)
    return;
  const dataset_stats *st = train_dataset_stats(ds);
  instrid_error err = {0};
  CHECK(count_lines(said) == 2 && strstr(said, "train_data/3.wav") && strstr(said, "3.csv") &&
            strstr(said, "train_data/4.wav"),
        "skip messages:\n%s", said);
  /* 3 s -> 186 frames -> 10 windows; 1.2 s -> 74 frames -> 3; test 0.3 s -> 17 frames -> 1. */
  CHECK(train_dataset_count(ds, DATASET_TRAIN) == 13, "train windows %zu",
        train_dataset_count(ds, DATASET_TRAIN));
  CHECK(train_dataset_count(ds, DATASET_VAL) == 1, "val windows %zu",
        train_dataset_count(ds, DATASET_VAL));
  CHECK(st->windows[DATASET_TRAIN] == 13 && st->windows[DATASET_VAL] == 1, "stats windows");
  CHECK(fabs(st->seconds_audio - 4.5) < 0.01, "seconds %g", st->seconds_audio);
  CHECK(st->cache_hits == 0, "no cache, no hits");

  float features[N_MELS * W], features2[N_MELS * W], target[TAXONOMY_N], mask[TAXONOMY_N];
  size_t n_ref = 0;
  float *ref = reference_frames(at("%s", "mn/train_data/1.wav"), &fe, &n_ref);
  CHECK(ref && n_ref >= 176 && n_ref <= 191, "reference frames %zu", n_ref);

  /* Recordings are read in name order: 1.wav's windows are train 0..9. */
  train_dataset_get(ds, DATASET_TRAIN, 0, 0, features, target, mask);
  check_musicnet_target(target, mask, (const char *const[]){"violin", "bass"}, 2, "window 0");
  if (ref)
    CHECK(max_feature_diff(features, ref, 0, W) <= 1e-6f, "window 0 features differ by %g",
          (double)max_feature_diff(features, ref, 0, W));
  train_dataset_get(ds, DATASET_TRAIN, 3, 0, features, target, mask);
  check_musicnet_target(target, mask, (const char *const[]){"violin", "bass"}, 2,
                        "window 3 (violin overlaps 0.232 s)");
  train_dataset_get(ds, DATASET_TRAIN, 4, 0, features, target, mask);
  check_musicnet_target(target, mask, (const char *const[]){"bass"}, 1, "window 4");
  train_dataset_get(ds, DATASET_TRAIN, 7, 0, features, target, mask);
  CHECK(window_start_s(7) < 1.8 && window_start_s(7) + 0.528 > 2.06, "window 7 spans the notes");
  check_musicnet_target(target, mask, (const char *const[]){"cello", "bass"}, 2,
                        "window 7 (piano 50 ms, horn chord 60 ms: absent)");
  if (ref)
    CHECK(max_feature_diff(features, ref, 7 * HOP_FRAMES, W) <= 1e-6f, "window 7 features");

  /* Time shift: +16 frames is window 1; shifts are clamped to the recording. */
  train_dataset_get(ds, DATASET_TRAIN, 1, 0, features2, target, mask);
  train_dataset_get(ds, DATASET_TRAIN, 0, HOP_FRAMES, features, target, mask);
  CHECK(memcmp(features, features2, sizeof features) == 0, "shift +16 == window 1");
  train_dataset_get(ds, DATASET_TRAIN, 0, -5, features, target, mask);
  train_dataset_get(ds, DATASET_TRAIN, 0, 0, features2, target, mask);
  CHECK(memcmp(features, features2, sizeof features) == 0, "shift before the start clamps");
  train_dataset_get(ds, DATASET_TRAIN, 9, 1000, features, target, mask);
  if (ref)
    CHECK(max_feature_diff(features, ref, n_ref - W, W) <= 1e-6f, "shift past the end clamps");
  /* Shifted by 3 frames (48 ms) window 3 still holds 0.184 s of violin; by 13 frames
   * (0.208 s) only 0.024 s: a shifted window's target follows its audio. */
  train_dataset_get(ds, DATASET_TRAIN, 3, 3, features, target, mask);
  CHECK(target[cls("violin")] == 1.0f, "shift 3: violin");
  train_dataset_get(ds, DATASET_TRAIN, 3, 13, features, target, mask);
  CHECK(target[cls("violin")] == 0.0f, "shift 13: violin gone");

  train_dataset_get(ds, DATASET_TRAIN, 10, 0, features, target, mask);
  check_musicnet_target(target, mask, (const char *const[]){"flute"}, 1, "recording 2");

  /* The short test recording: 17 real frames, then silence. */
  train_dataset_get(ds, DATASET_VAL, 0, 0, features, target, mask);
  check_musicnet_target(target, mask, (const char *const[]){"oboe"}, 1, "test recording");
  float silence = instrid_frontend_silence_value(&fe);
  size_t n_short = 0;
  float *ref_short = reference_frames(at("%s", "mn/test_data/1759.wav"), &fe, &n_short);
  CHECK(n_short == 17, "short frames %zu", n_short);
  if (ref_short && n_short == 17) {
    CHECK(max_feature_diff(features, ref_short, 0, 17) <= 1e-6f, "short real frames");
    int padded = 1;
    for (int m = 0; m < N_MELS; m++)
      for (int t = 17; t < W; t++)
        padded &= features[m * W + t] == silence;
    CHECK(padded, "padding is the front end's silence value %g", (double)silence);
  }
  free(ref_short);
  free(ref);

  /* Normalisation statistics over the training recordings (1.wav and 2.wav), from raw frames. */
  instrid_frontend_params raw = fe;
  raw.feature_mean = 0.0f;
  raw.feature_std = 1.0f;
  double sum = 0.0, sum_sq = 0.0, count = 0.0;
  for (int r = 1; r <= 2; r++) {
    size_t n = 0;
    float *x = reference_frames(at(r == 1 ? "%s/1.wav" : "%s/2.wav", "mn/train_data"), &raw, &n);
    for (size_t i = 0; x && i < n * N_MELS; i++) {
      sum += x[i];
      sum_sq += (double)x[i] * x[i];
    }
    count += (double)(n * N_MELS);
    free(x);
  }
  double want_mean = sum / count, want_std = sqrt(sum_sq / count - want_mean * want_mean);
  float mean = 0.0f, std = 0.0f;
  CHECK(train_dataset_feature_moments(ds, &mean, &std, &err) == INSTRID_OK, "moments: %s",
        err.message);
  CHECK(fabs(mean - want_mean) < 1e-4 && fabs(std - want_std) < 1e-4 && want_std > 0.5,
        "moments %g %g, want %g %g", (double)mean, (double)std, want_mean, want_std);

  /* Serving with the moments: every value becomes (raw - mean) / std. */
  static float before[N_MELS * W], after[N_MELS * W];
  float t0[TAXONOMY_N], m0[TAXONOMY_N];
  train_dataset_get(ds, DATASET_TRAIN, 0, 0, before, t0, m0);
  CHECK(train_dataset_set_normalization(ds, mean, std, &err) == INSTRID_OK, "set: %s", err.message);
  train_dataset_get(ds, DATASET_TRAIN, 0, 0, after, t0, m0);
  double worst = 0.0;
  for (size_t i = 0; i < (size_t)N_MELS * W; i++) {
    double raw_value = (double)before[i] * fe.feature_std + fe.feature_mean;
    double d = fabs(after[i] - (raw_value - mean) / std);
    worst = d > worst ? d : worst;
  }
  CHECK(worst < 1e-4, "renormalised window off by %g", worst);
  CHECK(train_dataset_set_normalization(ds, mean, 0.0f, &err) == INSTRID_ERR_INVALID_ARG &&
            strstr(err.message, "std"),
        "std 0 accepted: %s", err.message);
  CHECK(train_dataset_set_normalization(ds, NAN, 1.0f, &err) == INSTRID_ERR_INVALID_ARG,
        "NaN mean accepted");
  train_dataset_free(ds);
  train_dataset_free(NULL);
}

static void test_musicnet_held_out(void)
{
  char buf[256], text[512];
  make_dir(at("%s", "mnb"));
  make_dir(at("%s", "mnb/train_data"));
  make_dir(at("%s", "mnb/train_labels"));
  for (int id = 10; id < 14; id++) {
    snprintf(buf, sizeof buf, "mnb/train_data/%d.wav", id);
    write_wav(at("%s", buf), 44100, 0.6, 200.0 * (id - 8));
    snprintf(buf, sizeof buf, "mnb/train_labels/%d.csv", id);
    snprintf(text, sizeof text, "%s0,26460,1,60,0,1,Quarter\n", musicnet_header);
    write_text(at("%s", buf), text);
  }
  instrid_frontend_params fe = frontend();
  char cache[sizeof root + 32];
  snprintf(cache, sizeof cache, "%s", at("%s", "cache-b"));
  dataset_options opt = options(cache);
  opt.val_fraction = 0.25f;
  opt.seed = 7;
  dataset_source src = {DATASET_MUSICNET, at("%s", "mnb")};
  instrid_error err = {0};
  train_dataset *a = train_dataset_open(&src, 1, &fe, &opt, &err);
  train_dataset *b = train_dataset_open(&src, 1, &fe, &opt, &err);
  opt.val_fraction = 0.5f;
  train_dataset *c = train_dataset_open(&src, 1, &fe, &opt, &err);
  CHECK(a && b && c, "open: %s", err.message);
  if (a && b && c) {
    /* 0.6 s -> 36 frames -> one window per recording. */
    CHECK(train_dataset_count(a, DATASET_TRAIN) == 3 && train_dataset_count(a, DATASET_VAL) == 1,
          "0.25 of 4 recordings: %zu/%zu", train_dataset_count(a, DATASET_TRAIN),
          train_dataset_count(a, DATASET_VAL));
    CHECK(train_dataset_count(c, DATASET_TRAIN) == 2 && train_dataset_count(c, DATASET_VAL) == 2,
          "0.5 of 4 recordings: %zu/%zu", train_dataset_count(c, DATASET_TRAIN),
          train_dataset_count(c, DATASET_VAL));
    float fa[N_MELS * W], fb[N_MELS * W], t[TAXONOMY_N], m[TAXONOMY_N];
    train_dataset_get(a, DATASET_VAL, 0, 0, fa, t, m);
    train_dataset_get(b, DATASET_VAL, 0, 0, fb, t, m);
    CHECK(memcmp(fa, fb, sizeof fa) == 0, "same seed, same held-out recording");
    CHECK(train_dataset_stats(b)->cache_hits == 4, "second open from cache: %zu",
          train_dataset_stats(b)->cache_hits);
  }
  train_dataset_free(a);
  train_dataset_free(b);
  train_dataset_free(c);
}

static void expect_open_error(const dataset_source *src, const char *const *needles,
                              size_t n_needles, const char *what)
{
  instrid_frontend_params fe = frontend();
  dataset_options opt = options(NULL);
  instrid_error err = {0};
  train_dataset *ds = train_dataset_open(src, 1, &fe, &opt, &err);
  CHECK(ds == NULL, "%s: accepted", what);
  train_dataset_free(ds);
  for (size_t i = 0; i < n_needles; i++)
    CHECK(strstr(err.message, needles[i]) != NULL, "%s: '%s' not in: %s", what, needles[i],
          err.message);
}

/* A MusicNet recording whose own label file is malformed is skipped with one line naming the
 * file, line and column; the tree's other recordings are still read. */
static void expect_skipped(const dataset_source *src, const char *line, const char *what)
{
  const char *said = NULL;
  train_dataset *ds = open_checked(src, 1, 1, what, &said);
  train_dataset_free(ds);
  CHECK(strcmp(said, line) == 0, "%s: stderr:\n%s\nexpected:\n%s", what, said, line);
}

static void test_malformed(void)
{
  char text[1024], line[1024];
  make_dir(at("%s", "mnbad"));
  make_dir(at("%s", "mnbad/train_data"));
  make_dir(at("%s", "mnbad/train_labels"));
  write_wav(at("%s", "mnbad/train_data/5.wav"), 44100, 0.2, 440.0);
  write_wav(at("%s", "mnbad/train_data/6.wav"), 44100, 0.6, 440.0);
  snprintf(text, sizeof text, "%s0,100,41,60,0,1,Quarter\n", musicnet_header);
  write_text(at("%s", "mnbad/train_labels/6.csv"), text);
  write_text(at("%s", "mnbad/train_labels/5.csv"),
             "start_time,end_time,instrument,note,start_beat,end_beat,note_type\n");
  dataset_source mn = {DATASET_MUSICNET, at("%s", "mnbad")};
  char skipped[600];
  snprintf(skipped, sizeof skipped, "instrid: skipping %s/train_data/5.wav: %s/train_labels/5.csv",
           mn.dir, mn.dir);
  snprintf(line, sizeof line, "%s:1: column 7: header is 'note_type', expected 'note_value'\n",
           skipped);
  expect_skipped(&mn, line, "wrong header column");
  snprintf(text, sizeof text, "%s0,100,41,60,0,1,Quarter\n0,100,violin,60,0,1,Quarter\n",
           musicnet_header);
  write_text(at("%s", "mnbad/train_labels/5.csv"), text);
  snprintf(line, sizeof line,
           "%s:3: column 3 (instrument): 'violin' is not a whole number in [1, 128]\n", skipped);
  expect_skipped(&mn, line, "instrument not a number");
  snprintf(text, sizeof text, "%s0,100,41,60,0,1\n", musicnet_header);
  write_text(at("%s", "mnbad/train_labels/5.csv"), text);
  snprintf(line, sizeof line, "%s:2: 6 columns, expected 7\n", skipped);
  expect_skipped(&mn, line, "a missing column");
  snprintf(text, sizeof text, "%s100,50,41,60,0,1,Quarter\n", musicnet_header);
  write_text(at("%s", "mnbad/train_labels/5.csv"), text);
  snprintf(line, sizeof line,
           "%s:2: column 2 (end_time): '50' is not a whole number in [100, 1099511627776]\n",
           skipped);
  expect_skipped(&mn, line, "note ends before it starts");
  /* With the good recording gone too, nothing is left: that is an error. */
  unlink(at("%s", "mnbad/train_data/6.wav"));
  expect_open_error(&mn, (const char *const[]){"no usable audio"}, 1, "nothing left");
  dataset_source none = {DATASET_MUSICNET, at("%s", "om")};
  expect_open_error(&none, (const char *const[]){"not a MusicNet tree"}, 1, "not MusicNet");

  make_dir(at("%s", "ombad"));
  make_dir(at("%s", "ombad/partitions"));
  write_text(at("%s", "ombad/class-map.json"), "{\"accordion\": 0, \"kazoo\": 1}");
  write_text(at("%s", "ombad/openmic-2018-aggregated-labels.csv"),
             "sample_key,instrument,relevance,num_responses\n");
  write_text(at("%s", "ombad/partitions/split01_train.csv"), "");
  write_text(at("%s", "ombad/partitions/split01_test.csv"), "");
  dataset_source om = {DATASET_OPENMIC, at("%s", "ombad")};
  expect_open_error(&om, (const char *const[]){"class-map.json:1", "'kazoo'"}, 2,
                    "class outside the taxonomy");
  write_text(at("%s", "ombad/class-map.json"), "{\"accordion\": 0, \"flute\": 1}");
  write_text(at("%s", "ombad/openmic-2018-aggregated-labels.csv"),
             "sample_key,instrument,relevance,num_responses\n000001_0,flute,0.2,1\n"
             "000001_0,bassoon,1.0,2\n");
  expect_open_error(&om,
                    (const char *const[]){"openmic-2018-aggregated-labels.csv:3: column 2 "
                                          "(instrument)",
                                          "'bassoon'"},
                    2, "instrument outside class-map.json");
  write_text(at("%s", "ombad/openmic-2018-aggregated-labels.csv"),
             "sample_key,instrument,relevance,responses\n");
  expect_open_error(&om, (const char *const[]){":1: column 4", "'num_responses'"}, 2,
                    "wrong OpenMIC header");
  write_text(at("%s", "ombad/openmic-2018-aggregated-labels.csv"),
             "sample_key,instrument,relevance,num_responses\n000001_0,flute,1.5,1\n");
  expect_open_error(&om, (const char *const[]){":2: column 3 (relevance)"}, 1,
                    "relevance out of range");
}

static void test_openmic(void)
{
  dataset_source src = {DATASET_OPENMIC, at("%s", "om")};
  const char *said = NULL;
  /* 000004_0 has audio but no labels: left out, not decoded. 000005_0 has no audio. */
  train_dataset *ds = open_checked(&src, 3, 1, "openmic", &said);
  if (!ds)
    return;
  char unlabelled[600];
  snprintf(unlabelled, sizeof unlabelled,
           "instrid: %s/partitions/split01_train.csv: 1 keys have no labels and were left out "
           "(the first: 000004_0)\n",
           src.dir);
  CHECK(count_lines(said) == 2 && strncmp(said, unlabelled, strlen(unlabelled)) == 0 &&
            strstr(said, "audio/000/000005_0.ogg"),
        "stderr: %s", said);
  /* 1.2 s clips -> 3 windows each. */
  CHECK(train_dataset_count(ds, DATASET_TRAIN) == 6 && train_dataset_count(ds, DATASET_VAL) == 3,
        "windows %zu/%zu", train_dataset_count(ds, DATASET_TRAIN),
        train_dataset_count(ds, DATASET_VAL));

  float features[N_MELS * W], target[TAXONOMY_N], mask[TAXONOMY_N];
  for (size_t w = 0; w < 3; w++) {
    train_dataset_get(ds, DATASET_TRAIN, w, 0, features, target, mask);
    for (int c = 0; c < TAXONOMY_N; c++) {
      int known = c == cls("clarinet") || c == cls("flute") || c == cls("drums");
      int on = c == cls("clarinet") || c == cls("drums"); /* relevance 0.9, 0.5 */
      CHECK(mask[c] == (float)known, "clip 1 window %zu: %s mask %g", w, instrid_taxonomy[c],
            (double)mask[c]);
      CHECK(target[c] == (float)on, "clip 1 window %zu: %s target %g", w, instrid_taxonomy[c],
            (double)target[c]);
    }
  }
  CHECK(mask[cls("flute")] == 1.0f && target[cls("flute")] == 0.0f,
        "relevance 0.3 is a known negative");
  CHECK(mask[cls("guitar")] == 0.0f, "an unlisted class is masked");
  CHECK(mask[cls("bassoon")] == 0.0f && mask[cls("viola")] == 0.0f, "outside the vocabulary");
  train_dataset_get(ds, DATASET_TRAIN, 3, 0, features, target, mask);
  CHECK(mask[cls("guitar")] == 1.0f && target[cls("guitar")] == 1.0f, "clip 2 guitar");
  train_dataset_get(ds, DATASET_VAL, 2, 0, features, target, mask);
  float n_known = 0.0f;
  for (int c = 0; c < TAXONOMY_N; c++)
    n_known += mask[c];
  CHECK(n_known == 1.0f && mask[cls("voice")] == 1.0f && target[cls("voice")] == 0.0f,
        "test clip: only voice known, negative");
  train_dataset_free(ds);
}

/* A tree as scripts/fetch-data writes it: every taxonomy class in the class map, lossless .wav
 * clips under audio/, every class listed for a clip of one known source (its class positive, the
 * rest known negatives) and a non-music clip negative for every class. */
static void test_openmic_fetched(void)
{
  make_dir(at("%s", "omf"));
  make_dir(at("%s", "omf/audio"));
  make_dir(at("%s", "omf/audio/a1b"));
  make_dir(at("%s", "omf/audio/ff0"));
  make_dir(at("%s", "omf/partitions"));
  char map[2048] = "{";
  char labels[8192] = "sample_key,instrument,relevance,num_responses\n";
  for (int c = 0; c < TAXONOMY_N; c++) {
    char row[128];
    snprintf(row, sizeof row, "%s\"%s\": %d", c ? ", " : "", instrid_taxonomy[c], c);
    strcat(map, row);
    snprintf(row, sizeof row, "a1b2c3_00,%s,%s,1\n", instrid_taxonomy[c],
             c == cls("flute") ? "1.0" : "0.0");
    strcat(labels, row);
  }
  for (int c = 0; c < TAXONOMY_N; c++) {
    char row[128];
    snprintf(row, sizeof row, "ff0123_00,%s,0.0,1\n", instrid_taxonomy[c]);
    strcat(labels, row);
  }
  strcat(map, "}");
  write_text(at("%s", "omf/class-map.json"), map);
  write_text(at("%s", "omf/openmic-2018-aggregated-labels.csv"), labels);
  write_text(at("%s", "omf/partitions/split01_train.csv"), "a1b2c3_00\n");
  write_text(at("%s", "omf/partitions/split01_test.csv"), "ff0123_00\n");
  write_wav(at("%s", "omf/audio/a1b/a1b2c3_00.wav"), 44100, 0.4, 600.0);
  write_wav(at("%s", "omf/audio/ff0/ff0123_00.wav"), 44100, 1.2, 300.0);

  dataset_source src = {DATASET_OPENMIC, at("%s", "omf")};
  train_dataset *ds = open_checked(&src, 2, 0, "fetched tree (wav clips)", NULL);
  if (!ds)
    return;
  /* A 0.4 s note is shorter than a window: one window, padded; the 1.2 s clip gives 3. */
  CHECK(train_dataset_count(ds, DATASET_TRAIN) == 1 && train_dataset_count(ds, DATASET_VAL) == 3,
        "windows %zu/%zu", train_dataset_count(ds, DATASET_TRAIN),
        train_dataset_count(ds, DATASET_VAL));
  float features[N_MELS * W], target[TAXONOMY_N], mask[TAXONOMY_N];
  train_dataset_get(ds, DATASET_TRAIN, 0, 0, features, target, mask);
  for (int c = 0; c < TAXONOMY_N; c++)
    CHECK(mask[c] == 1.0f && target[c] == (c == cls("flute") ? 1.0f : 0.0f),
          "note: %s mask %g target %g", instrid_taxonomy[c], (double)mask[c], (double)target[c]);
  train_dataset_get(ds, DATASET_VAL, 2, 0, features, target, mask);
  for (int c = 0; c < TAXONOMY_N; c++)
    CHECK(mask[c] == 1.0f && target[c] == 0.0f, "non-music: %s mask %g target %g",
          instrid_taxonomy[c], (double)mask[c], (double)target[c]);
  train_dataset_free(ds);
}

/* ---- the feature cache ------------------------------------------------------------------- */

static void flip_byte(const char *path, long offset)
{
  FILE *f = fopen(path, "r+b");
  if (!f)
    return;
  fseek(f, offset, SEEK_SET);
  int c = fgetc(f);
  fseek(f, offset, SEEK_SET);
  fputc(c ^ 0x40, f);
  fclose(f);
}

static size_t hits_after_open(instrid_frontend_params fe, const char *cache, float *features)
{
  dataset_source src[2] = {{DATASET_MUSICNET, at("%s", "mn")}, {DATASET_OPENMIC, at("%s", "om")}};
  dataset_options opt = options(cache);
  opt.decode_threads = 3; /* more threads than cores: the results must not depend on it */
  instrid_error err = {0};
  capture_stderr();
  train_dataset *ds = train_dataset_open(src, 2, &fe, &opt, &err);
  release_stderr();
  CHECK(ds, "open: %s", err.message);
  if (!ds)
    return (size_t)-1;
  size_t hits = train_dataset_stats(ds)->cache_hits;
  CHECK(train_dataset_stats(ds)->files_ok == 6, "files ok %zu", train_dataset_stats(ds)->files_ok);
  CHECK(train_dataset_count(ds, DATASET_TRAIN) == 19 && train_dataset_count(ds, DATASET_VAL) == 4,
        "two sources: windows %zu/%zu", train_dataset_count(ds, DATASET_TRAIN),
        train_dataset_count(ds, DATASET_VAL));
  float target[TAXONOMY_N], mask[TAXONOMY_N];
  if (features)
    train_dataset_get(ds, DATASET_TRAIN, 1, 0, features, target, mask);
  train_dataset_free(ds);
  return hits;
}

static void test_cache(void)
{
  char cache[sizeof root + 32]; /* at() reuses its buffers: keep a copy */
  snprintf(cache, sizeof cache, "%s", at("%s", "cache/nested"));
  instrid_frontend_params fe = frontend();
  size_t n_ref = 0;
  float *ref = reference_frames(at("%s", "mn/train_data/1.wav"), &fe, &n_ref);
  float first[N_MELS * W], again[N_MELS * W];

  CHECK(hits_after_open(fe, cache, first) == 0, "first open: no hits");
  CHECK(count_files(cache) == 6, "one cache file per audio file: %zu", count_files(cache));
  if (ref)
    CHECK(max_feature_diff(first, ref, HOP_FRAMES, W) <= 1e-6f, "cached features");
  size_t hits = hits_after_open(fe, cache, again);
  CHECK(hits == 6, "second open: %zu hits", hits);
  CHECK(memcmp(first, again, sizeof first) == 0, "mapped features equal decoded ones");

  /* A new mtime invalidates that file's entry, which is rebuilt in place. */
  struct timespec times[2] = {{0, UTIME_OMIT}, {1000000000, 0}};
  CHECK(utimensat(AT_FDCWD, at("%s", "mn/train_data/2.wav"), times, 0) == 0, "utimensat");
  hits = hits_after_open(fe, cache, NULL);
  CHECK(hits == 5, "after touching one file: %zu hits", hits);
  CHECK(count_files(cache) == 6, "rebuilt in place: %zu files", count_files(cache));
  CHECK(hits_after_open(fe, cache, NULL) == 6, "and cached again");

  /* Normalisation is applied when serving: changing it keeps the cache. */
  instrid_frontend_params renorm = fe;
  renorm.feature_mean = 1.0f;
  CHECK(hits_after_open(renorm, cache, again) == 6, "new normalisation, same raw frames");
  if (ref) {
    for (size_t i = 0; i < sizeof again / sizeof again[0]; i++)
      again[i] = again[i] * renorm.feature_std + renorm.feature_mean; /* back to log-mel */
    float worst = 0.0f;
    for (int m = 0; m < N_MELS; m++)
      for (int t = 0; t < W; t++) {
        float d = fabsf(again[m * W + t] -
                        (ref[(HOP_FRAMES + t) * N_MELS + m] * fe.feature_std + fe.feature_mean));
        worst = d > worst ? d : worst;
      }
    CHECK(worst < 1e-4f, "renormalised features off by %g", (double)worst);
  }

  /* Front-end parameters that shape the frames do invalidate it. */
  instrid_frontend_params other = fe;
  other.fmax_hz = 7000.0f;
  CHECK(hits_after_open(other, cache, NULL) == 0, "new fmax: no hits");
  CHECK(count_files(cache) == 12, "a second set of files: %zu", count_files(cache));

  /* Damaged files are rebuilt, not trusted. */
  char *damaged = featcache_path(cache, at("%s", "mn/train_data/1.wav"), &fe);
  char *truncated = featcache_path(cache, at("%s", "om/audio/000/000002_10.ogg"), &fe);
  char *header = featcache_path(cache, at("%s", "om/audio/100/100003_20.ogg"), &fe);
  CHECK(damaged && truncated && header, "featcache_path");
  if (damaged && truncated && header) {
    /* A writer of this entry killed before its rename left damaged.tmp.<pid>: the rebuild
     * removes it, and keeps a live process's. */
    pid_t dead = fork();
    if (dead == 0)
      _exit(0);
    CHECK(dead > 0 && waitpid(dead, NULL, 0) == dead, "fork");
    char stale[4096], live[4096];
    snprintf(stale, sizeof stale, "%s.tmp.%ld", damaged, (long)dead);
    snprintf(live, sizeof live, "%s.tmp.%ld", damaged, (long)getppid());
    FILE *tf = fopen(stale, "wb");
    CHECK(tf && fclose(tf) == 0, "create %s", stale);
    tf = fopen(live, "wb");
    CHECK(tf && fclose(tf) == 0, "create %s", live);
    flip_byte(damaged, FEATCACHE_HEADER_BYTES + 1000);
    CHECK(truncate(truncated, 4000) == 0, "truncate");
    flip_byte(header, 30); /* n_frames */
    hits = hits_after_open(fe, cache, again);
    CHECK(hits == 3, "three damaged files rebuilt: %zu hits", hits);
    CHECK(memcmp(first, again, sizeof first) == 0, "rebuilt features are right");
    CHECK(access(stale, F_OK) != 0, "the killed writer's %s is still there", stale);
    CHECK(access(live, F_OK) == 0, "a live process's temporary file was removed");
    CHECK(unlink(live) == 0, "unlink %s", live);
    CHECK(hits_after_open(fe, cache, NULL) == 6, "and valid afterwards");
  }
  free(damaged);
  free(truncated);
  free(header);

  /* Directly: no cache directory decodes into memory. */
  featcache_outcome outcome = FEATCACHE_HIT;
  instrid_error err = {0};
  featcache_file *f =
      featcache_open(NULL, at("%s", "mn/test_data/1759.wav"), &fe, &outcome, NULL, &err);
  CHECK(f && outcome == FEATCACHE_UNCACHED && featcache_n_frames(f) == 17 &&
            featcache_n_mels(f) == N_MELS && featcache_n_samples(f) >= 4790 &&
            featcache_n_samples(f) <= 4810,
        "uncached: %s", err.message);
  featcache_free(f);

  /* A centred front end (EfficientAT's kind): the clip's frames include the reflected end's,
   * 1 + (n - 1) / hop with pre-emphasis, equal to the front end run and flushed by hand. The
   * 44.1 kHz clip is analysed at its own rate (the element's route): the cache holds the
   * at-rate front end's raw frames, in the model's units. */
  instrid_frontend_params centred = fe;
  centred.center = 1;
  centred.preemphasis = 0.97f;
  centred.hop_samples = 160; /* 10 ms: a whole 441 samples at 44.1 kHz, so not resampled */
  f = featcache_open(NULL, at("%s", "mn/test_data/1759.wav"), &centred, &outcome, NULL, &err);
  CHECK(f != NULL, "centred: %s", err.message);
  if (f) {
    float *x = NULL;
    size_t nx = 0, k = 0, want = 0;
    uint32_t rate = 0;
    instrid_frontend_params raw = centred, raw_at_rate;
    raw.feature_mean = 0.0f;
    raw.feature_std = 1.0f;
    CHECK(decode_audio_file_to_array_routed(at("%s", "mn/test_data/1759.wav"), &raw, &x, &nx, &rate,
                                            &err) == INSTRID_OK &&
              rate == 44100 &&
              instrid_frontend_params_for_rate(&raw, rate, &raw_at_rate, &err) == INSTRID_OK,
          "centred: routed decode at %u Hz: %s", rate, err.message);
    if (nx > 0)
      want = 1 + (nx - 1) / raw_at_rate.hop_samples;
    CHECK(featcache_n_frames(f) == want && want > 0,
          "centred: %zu frames from %zu samples, expected %zu", (size_t)featcache_n_frames(f), nx,
          want);
    CHECK(featcache_n_samples(f) == (uint64_t)((double)nx * RATE / 44100 + 0.5),
          "centred: %llu samples counted at the model's rate for %zu at 44.1 kHz",
          (unsigned long long)featcache_n_samples(f), nx);
    instrid_frontend *hand = instrid_frontend_new(&raw_at_rate, &err);
    float *frames = calloc((want + 1) * N_MELS, sizeof(float));
    if (hand && frames && x) {
      for (size_t at_ = 0; at_ < nx && k <= want;) {
        int ready = 0;
        at_ += instrid_frontend_process(hand, x + at_, nx - at_, frames + k * N_MELS, &ready);
        k += (size_t)ready;
      }
      while (k <= want && instrid_frontend_flush(hand, frames + k * N_MELS))
        k++;
      CHECK(k == want && memcmp(frames, featcache_frames(f), want * N_MELS * sizeof(float)) == 0,
            "centred: cached frames differ from the front end flushed by hand (%zu frames)", k);
    }
    free(x);
    free(frames);
    instrid_frontend_free(hand);
  }
  featcache_free(f);
  featcache_free(NULL);
  free(ref);
}

int main(void)
{
  gst_init(NULL, NULL);
  char tmpl[] = "/tmp/instrid-readers-XXXXXX";
  if (!mkdtemp(tmpl)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(root, sizeof root, "%s", tmpl);

  test_csv();
  test_taxonomy();
  write_musicnet_tree("mn");
  write_openmic_tree("om");
  test_decode();
  test_musicnet();
  test_musicnet_held_out();
  test_malformed();
  test_openmic();
  test_openmic_fetched();
  test_cache();

  fixture_remove_tree(root);
  return check_exit();
}
