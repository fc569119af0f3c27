/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* corpus.c — renders many pieces on worker threads and writes them in the MusicNet and
 * OpenMIC-2018 layouts. Every piece draws its randomness from (seed, piece index) only, so a
 * corpus is the same whatever --jobs is.
 */
#include "corpus.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audio.h"
#include "rng.h"
#include "synth.h"
#include "util.h"

enum { LAYOUT_MUSICNET, LAYOUT_OPENMIC };

typedef struct {
  int layout;
  size_t index; /* within its layout */
  int ok, test;
  char key[32]; /* MusicNet id or OpenMIC sample_key */
  double seconds;
  double class_seconds[TAXONOMY_N];
  uint32_t synth_classes; /* render_piece.synth_classes */
} task;

typedef struct {
  const corpus_options *opt;
  task *tasks;
  size_t n_tasks, next, done, failed_draws, synth_pieces;
  double audio_s_done;
  double t_start;
  pthread_mutex_t lock;
  int fatal;
  char fatal_msg[512];
} corpus_state;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int is_midi_name(const char *name)
{
  size_t n = strlen(name);
  return (n > 4 && strcasecmp(name + n - 4, ".mid") == 0) ||
         (n > 5 && strcasecmp(name + n - 5, ".midi") == 0);
}

static int collect(const char *path, char ***files, size_t *n, size_t *cap, int depth)
{
  struct stat st;
  if (stat(path, &st) != 0)
    return -1;
  if (!S_ISDIR(st.st_mode)) {
    if (*n == *cap) {
      *cap = *cap ? *cap * 2 : 256;
      char **p = realloc(*files, *cap * sizeof(char *));
      if (!p)
        return -1;
      *files = p;
    }
    if (!((*files)[*n] = strdup(path)))
      return -1;
    (*n)++;
    return 0;
  }
  if (depth > 6)
    return 0;
  char **names;
  size_t n_names;
  if (render_list_dir(path, NULL, &names, &n_names) != 0)
    return -1;
  int rc = 0;
  for (size_t i = 0; i < n_names && rc == 0; i++) {
    char sub[4096];
    render_path(sub, sizeof(sub), "%s/%s", path, names[i]);
    struct stat s2;
    if (stat(sub, &s2) != 0)
      continue;
    if (S_ISDIR(s2.st_mode) || is_midi_name(names[i]))
      rc = collect(sub, files, n, cap, depth + 1);
  }
  render_free_names(names, n_names);
  return rc;
}

int corpus_collect_midi(const char *path, char ***files, size_t *n)
{
  size_t cap = *n;
  return collect(path, files, n, &cap, 0);
}

/* ---------------------------------------------------------------------------------------- */

static int write_musicnet(const corpus_options *opt, const task *t, const render_piece *pc,
                          char *errbuf, size_t errlen)
{
  char path[4096];
  const char *split = t->test ? "test" : "train";
  const double rate = opt->config.rate_hz;
  float *mono = malloc((pc->frames ? pc->frames : 1) * sizeof(float));
  if (!mono) {
    snprintf(errbuf, errlen, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < pc->frames; i++)
    mono[i] = 0.5f * (pc->audio[2 * i] + pc->audio[2 * i + 1]);
  render_path(path, sizeof(path), "%s/musicnet/%s_data/%s.wav", opt->out_dir, split, t->key);
  int rc = audio_write_wav(path, mono, pc->frames, 1, opt->config.rate_hz, errbuf, errlen);
  free(mono);
  if (rc != 0)
    return -1;
  render_path(path, sizeof(path), "%s/musicnet/%s_labels/%s.csv", opt->out_dir, split, t->key);
  char tmp[4200];
  render_path(tmp, sizeof(tmp), "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) {
    snprintf(errbuf, errlen, "%.300s: cannot create: %s", tmp, strerror(errno));
    return -1;
  }
  fprintf(f, "start_time,end_time,instrument,note,start_beat,end_beat,note_value\n");
  for (size_t i = 0; i < pc->n_labels; i++) {
    const render_label *l = &pc->labels[i];
    double start_beat = l->start_beat, dur = l->dur_beats;
    if (start_beat < 0) { /* recorded phrases have no score: count beats at 120 bpm */
      start_beat = l->start / rate * 2.0;
      dur = (l->end - l->start) / rate * 2.0;
    }
    fprintf(f, "%u,%u,%d,%d,%.6g,%.6g,%s\n", l->start, l->end, instrid_taxonomy_gm_program(l->cls),
            l->note, start_beat, dur, smf_note_value_name(dur));
  }
  if (fclose(f) != 0 || rename(tmp, path) != 0) {
    unlink(tmp);
    snprintf(errbuf, errlen, "%.300s: write failed", path);
    return -1;
  }
  return 0;
}

static int write_openmic_audio(const corpus_options *opt, const task *t, const render_piece *pc,
                               int file_rate_hz, char *errbuf, size_t errlen)
{
  char dir[4096], path[4200];
  render_path(dir, sizeof(dir), "%s/openmic/audio/%.3s", opt->out_dir, t->key);
  if (render_mkdirs(dir) != 0) {
    snprintf(errbuf, errlen, "%.300s: cannot create: %s", dir, strerror(errno));
    return -1;
  }
  render_path(path, sizeof(path), "%s/%s.ogg", dir, t->key);
  return audio_write_ogg_at(path, pc->audio, pc->frames, 2, opt->config.rate_hz, file_rate_hz, 0.5f,
                            (unsigned)(t->index + 1), errbuf, errlen);
}

static void *worker(void *arg)
{
  corpus_state *st = arg;
  const corpus_options *opt = st->opt;
  char err[512];
  render_engine *eng = render_engine_new(&opt->config, err, sizeof(err));
  if (!eng) {
    pthread_mutex_lock(&st->lock);
    st->fatal = 1;
    snprintf(st->fatal_msg, sizeof(st->fatal_msg), "%s", err);
    pthread_mutex_unlock(&st->lock);
    return NULL;
  }
  for (;;) {
    pthread_mutex_lock(&st->lock);
    size_t i = st->next++;
    int stop = st->fatal || i >= st->n_tasks;
    pthread_mutex_unlock(&st->lock);
    if (stop)
      break;
    task *t = &st->tasks[i];
    render_options ro = opt->options;
    ro.excerpt_s = t->layout == LAYOUT_OPENMIC ? opt->clip_s : opt->musicnet_excerpt_s;
    /* GM has no mandolin nor ukulele program, so MusicNet labels cannot name them (the reader
     * would take them for silence in windows where every class is known): OpenMIC only. */
    if (t->layout == LAYOUT_MUSICNET)
      ro.excluded_classes |= (1u << TAX_MANDOLIN) | (1u << TAX_UKULELE);
    int note_cls = -1, note_program = -1;
    if (opt->notes) {
      /* one part, the drawn class only (mandolin and ukulele parts have no program and get
       * their class by range), no phrase on top, the attack in the clip */
      ro.reassign_prob = 0.0;
      ro.phrase_prob = 0.0;
      ro.excerpt_from_start = 1;
      /* the class from its own stream, kept when a draw fails (a kit without the key drawn):
       * the classes stay evenly spread. Only those the labels name: a clip of any other would
       * have no positive. */
      render_options draw = opt->options;
      for (int c = 0; c < TAXONOMY_N; c++)
        if (!opt->all_classes && !render_classes[c].openmic)
          draw.excluded_classes |= 1u << c;
      splitmix_rng cr = splitmix_derive(opt->seed ^ 0xc1a55, i);
      note_cls = render_note_class(eng, &draw, &cr);
      /* the built-in synthesizer plays the note at --synth-prob (from its own stream), always
       * when no other source can; else it is left out of this clip's sources */
      int by_synth = 0;
      ro.synth_prob = 0.0;
      if (opt->options.synth_prob > 0 && (opt->options.sources & SOURCE_SYNTH) &&
          synth_can_play(note_cls)) {
        render_options others = draw;
        others.sources &= ~SOURCE_SYNTH;
        splitmix_rng yr = splitmix_derive(opt->seed ^ 0x5e17, i);
        by_synth = splitmix_uniform(&yr) < opt->options.synth_prob ||
                   !render_class_available(eng, &others, note_cls);
        ro.synth_prob = by_synth ? 1.0 : 0.0;
      }
      /* A bass today is as often a synth bass as a bass guitar: a third of the bass notes the
       * built-in synthesizer does not play are GM synth basses (38, 39), played as the
       * synthesizer class they are in classes.c and labelled bass and synthesizer below (unless
       * synthesizer is excluded). Without this, synth basses come only from the synthesizer's
       * 22 programs, about 1 clip in 200. */
      int play_cls = note_cls;
      if (!by_synth && note_cls == TAX_BASS && splitmix_below(&cr, 3) == 0 &&
          !(opt->options.excluded_classes & (1u << TAX_SYNTHESIZER))) {
        play_cls = TAX_SYNTHESIZER;
        note_program = 38 + (int)splitmix_below(&cr, 2);
      }
      if (play_cls >= 0) /* else render_note_song says that no class can be played */
        ro.excluded_classes =
            opt->options.excluded_classes | (((1u << TAXONOMY_N) - 1) & ~(1u << play_cls));
      note_cls = play_cls;
      ro.keep_program = 1;
    }
    render_piece pc;
    const char *file = NULL;
    char note_name[64];
    int rendered = 0;
    for (int attempt = 0; attempt < 8 && !rendered; attempt++) {
      splitmix_rng r = splitmix_derive(opt->seed, (uint64_t)i * 16 + (uint64_t)attempt);
      smf_song *song;
      if (opt->notes) {
        int program;
        snprintf(note_name, sizeof(note_name), "isolated %s note",
                 note_cls >= 0 ? instrid_taxonomy[note_cls] : "no");
        file = note_name;
        song =
            render_note_song(note_cls, note_program, opt->clip_s, &r, &program, err, sizeof(err));
      } else {
        size_t fi = (opt->hours > 0 || attempt > 0) ? splitmix_below(&r, opt->n_midi)
                                                    : t->index % opt->n_midi;
        file = opt->midi_files[fi];
        song = smf_read_file(file, err, sizeof(err));
      }
      if (song) {
        rendered = render_song(eng, song, &ro, splitmix_next(&r), &pc, err, sizeof(err)) == 0;
        smf_song_free(song);
      }
      if (!rendered) {
        pthread_mutex_lock(&st->lock);
        st->failed_draws++;
        if (opt->verbose)
          fprintf(stderr, "instrid-render: skipping %s: %s\n", file, err);
        pthread_mutex_unlock(&st->lock);
      }
    }
    if (!rendered) {
      pthread_mutex_lock(&st->lock);
      st->fatal = 1;
      snprintf(st->fatal_msg, sizeof(st->fatal_msg), "8 draws in a row failed; last: %.400s", err);
      pthread_mutex_unlock(&st->lock);
      break;
    }
    splitmix_rng split_rng = splitmix_derive(opt->seed ^ 0x7e57, i);
    t->test = splitmix_uniform(&split_rng) < opt->test_fraction;
    if (t->layout == LAYOUT_MUSICNET)
      snprintf(t->key, sizeof(t->key), "%zu", 100000 + t->index);
    else
      snprintf(t->key, sizeof(t->key), "%06zu_%u", t->index, (unsigned)lround(pc.start_s * 1000));
    t->seconds = (double)pc.frames / opt->config.rate_hz;
    /* A GM synth bass (programs 38, 39) is both a bass and a synthesizer: in isolated notes,
     * where nothing else plays, it is labelled as both. */
    if (opt->notes && note_cls == TAX_SYNTHESIZER &&
        (pc.first_program == 38 || pc.first_program == 39))
      pc.class_seconds[TAX_BASS] = pc.class_seconds[TAX_SYNTHESIZER];
    memcpy(t->class_seconds, pc.class_seconds, sizeof(t->class_seconds));
    t->synth_classes = pc.synth_classes;
    /* --notes: some clips band-limited as the many 16-kHz real sources are, written at 16 kHz
     * (from their own random stream: the draws above stay as they are) */
    int file_rate = opt->config.rate_hz;
    if (opt->notes && opt->notes_lowrate_prob > 0 && opt->config.rate_hz > 16000) {
      splitmix_rng lr = splitmix_derive(opt->seed ^ 0x16000, i);
      if (splitmix_uniform(&lr) < opt->notes_lowrate_prob) {
        file_rate = 16000;
        size_t len = strlen(pc.description);
        snprintf(pc.description + len, sizeof(pc.description) - len, " | 16 kHz");
      }
    }
    int rc = t->layout == LAYOUT_MUSICNET
                 ? write_musicnet(opt, t, &pc, err, sizeof(err))
                 : write_openmic_audio(opt, t, &pc, file_rate, err, sizeof(err));
    pthread_mutex_lock(&st->lock);
    if (rc != 0) {
      st->fatal = 1;
      snprintf(st->fatal_msg, sizeof(st->fatal_msg), "%s", err);
    } else {
      t->ok = 1;
      st->done++;
      st->synth_pieces += pc.synth_classes != 0;
      st->audio_s_done += t->seconds;
      if (opt->verbose) {
        double el = now_s() - st->t_start;
        double eta = st->done ? el * (double)(st->n_tasks - st->done) / (double)st->done : 0;
        const char *base = strrchr(file, '/');
        fprintf(stderr, "[%zu/%zu] %s %s %5.1f s  %s  (%s)  %.0fx real time, ETA %.0f s\n",
                st->done, st->n_tasks, t->layout == LAYOUT_MUSICNET ? "musicnet" : "openmic",
                t->key, t->seconds, pc.description, base ? base + 1 : file,
                el > 0 ? st->audio_s_done / el : 0.0, eta);
      }
    }
    pthread_mutex_unlock(&st->lock);
    render_piece_clear(&pc);
    if (rc != 0)
      break;
  }
  render_engine_free(eng);
  return NULL;
}

/* ---------------------------------------------------------------------------------------- */

static FILE *open_tmp(const char *path, char *tmp, size_t tmp_len, char *errbuf, size_t errlen)
{
  render_path(tmp, tmp_len, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f)
    snprintf(errbuf, errlen, "%.300s: cannot create: %s", tmp, strerror(errno));
  return f;
}

static int close_tmp(FILE *f, const char *tmp, const char *path, char *errbuf, size_t errlen)
{
  if (fclose(f) != 0 || rename(tmp, path) != 0) {
    unlink(tmp);
    snprintf(errbuf, errlen, "%.300s: write failed", path);
    return -1;
  }
  return 0;
}

static int write_indexes(const corpus_options *opt, const corpus_state *st, char *errbuf,
                         size_t errlen)
{
  char path[4096], tmp[4200];
  FILE *f;
  if (opt->musicnet) {
    render_path(path, sizeof(path), "%s/musicnet/musicnet_metadata.csv", opt->out_dir);
    if (!(f = open_tmp(path, tmp, sizeof(tmp), errbuf, errlen)))
      return -1;
    fprintf(f,
            "id,composer,composition,movement,ensemble,source,transcriber,catalog_name,seconds\n");
    for (size_t i = 0; i < st->n_tasks; i++) {
      const task *t = &st->tasks[i];
      if (t->layout != LAYOUT_MUSICNET || !t->ok)
        continue;
      char ensemble[512] = "";
      size_t len = 0;
      for (int c = 0; c < TAXONOMY_N; c++)
        if (t->class_seconds[c] > 0 && len < sizeof(ensemble))
          len += (size_t)snprintf(ensemble + len, sizeof(ensemble) - len, "%s%s", len ? " " : "",
                                  instrid_taxonomy[c]);
      fprintf(f, "%s,instrid-render,rendered,,%s,instrid-render,,,%.0f\n", t->key, ensemble,
              ceil(t->seconds));
    }
    if (close_tmp(f, tmp, path, errbuf, errlen))
      return -1;
  }
  if (!opt->openmic)
    return 0;
  /* aggregated labels: every class of the vocabulary (OpenMIC's 20, or the taxonomy's 25) of
   * every clip, less a fixed share withheld per clip */
  const int n_om_target = opt->all_classes ? TAXONOMY_N : 20;
  int om_class[TAXONOMY_N], n_om = 0;
  for (int c = 0; c < TAXONOMY_N; c++)
    if (opt->all_classes || render_classes[c].openmic)
      om_class[n_om++] = c;
  if (n_om != n_om_target) {
    snprintf(errbuf, errlen, "internal: %d OpenMIC classes", n_om);
    return -1;
  }
  int n_withheld = (int)lround(opt->withheld_fraction * n_om);
  render_path(path, sizeof(path), "%s/openmic/openmic-2018-aggregated-labels.csv", opt->out_dir);
  if (!(f = open_tmp(path, tmp, sizeof(tmp), errbuf, errlen)))
    return -1;
  fprintf(f, "sample_key,instrument,relevance,num_responses\n");
  for (size_t i = 0; i < st->n_tasks; i++) {
    const task *t = &st->tasks[i];
    if (t->layout != LAYOUT_OPENMIC || !t->ok)
      continue;
    int order[TAXONOMY_N];
    for (int k = 0; k < n_om; k++)
      order[k] = k;
    splitmix_rng r = splitmix_derive(opt->seed ^ 0x3417, t->index);
    for (int k = n_om; k > 1; k--) {
      int j = (int)splitmix_below(&r, (uint64_t)k), x = order[k - 1];
      order[k - 1] = order[j];
      order[j] = x;
    }
    int listed[TAXONOMY_N] = {0};
    for (int k = n_withheld; k < n_om; k++)
      listed[order[k]] = 1;
    for (int k = 0; k < n_om; k++) {
      if (!listed[k])
        continue;
      /* a class counts as present from a tenth of a second of notes in the clip */
      int positive = t->class_seconds[om_class[k]] >= 0.1;
      /* whether a synthetic flute "is a synthesizer" is ambiguous: a clip where the built-in
       * synthesizer plays another class leaves synthesizer unknown unless it is a positive */
      if (om_class[k] == TAX_SYNTHESIZER && !positive &&
          (t->synth_classes & ~(1u << TAX_SYNTHESIZER)))
        continue;
      fprintf(f, "%s,%s,%s,3\n", t->key, instrid_taxonomy[om_class[k]], positive ? "1.0" : "0.0");
    }
  }
  if (close_tmp(f, tmp, path, errbuf, errlen))
    return -1;

  render_path(path, sizeof(path), "%s/openmic/class-map.json", opt->out_dir);
  if (!(f = open_tmp(path, tmp, sizeof(tmp), errbuf, errlen)))
    return -1;
  fputc('{', f);
  for (int k = 0; k < n_om; k++)
    fprintf(f, "%s\"%s\": %d", k ? ", " : "", instrid_taxonomy[om_class[k]], k);
  fputc('}', f);
  if (close_tmp(f, tmp, path, errbuf, errlen))
    return -1;

  render_path(path, sizeof(path), "%s/openmic/partitions", opt->out_dir);
  if (render_mkdirs(path) != 0) {
    snprintf(errbuf, errlen, "%.300s: cannot create: %s", path, strerror(errno));
    return -1;
  }
  for (int test = 0; test < 2; test++) {
    render_path(path, sizeof(path), "%s/openmic/partitions/split01_%s.csv", opt->out_dir,
                test ? "test" : "train");
    if (!(f = open_tmp(path, tmp, sizeof(tmp), errbuf, errlen)))
      return -1;
    for (size_t i = 0; i < st->n_tasks; i++)
      if (st->tasks[i].layout == LAYOUT_OPENMIC && st->tasks[i].ok && st->tasks[i].test == test)
        fprintf(f, "%s\n", st->tasks[i].key);
    if (close_tmp(f, tmp, path, errbuf, errlen))
      return -1;
  }
  return 0;
}

/* Renders n_mn MusicNet pieces and n_om OpenMIC clips on o->jobs threads, then the indexes. */
static int run_tasks(const corpus_options *o, size_t n_mn, size_t n_om, char *errbuf, size_t errlen)
{
  corpus_state st = {.opt = o, .n_tasks = n_mn + n_om, .t_start = now_s()};
  st.tasks = calloc(st.n_tasks ? st.n_tasks : 1, sizeof(task));
  if (!st.tasks) {
    snprintf(errbuf, errlen, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < st.n_tasks; i++) {
    st.tasks[i].layout = i < n_mn ? LAYOUT_MUSICNET : LAYOUT_OPENMIC;
    st.tasks[i].index = i < n_mn ? i : i - n_mn;
  }
  char dir[4096];
  static const char *mn_dirs[] = {"train_data", "train_labels", "test_data", "test_labels"};
  for (int k = 0; o->musicnet && k < 4; k++) {
    render_path(dir, sizeof(dir), "%s/musicnet/%s", o->out_dir, mn_dirs[k]);
    if (render_mkdirs(dir) != 0) {
      snprintf(errbuf, errlen, "%.300s: cannot create: %s", dir, strerror(errno));
      free(st.tasks);
      return -1;
    }
  }
  render_path(dir, sizeof(dir), "%s/openmic/audio", o->out_dir);
  if (o->openmic && render_mkdirs(dir) != 0) {
    snprintf(errbuf, errlen, "%.300s: cannot create: %s", dir, strerror(errno));
    free(st.tasks);
    return -1;
  }
  pthread_mutex_init(&st.lock, NULL);
  int jobs = o->jobs < 1 ? 1 : o->jobs > 64 ? 64 : o->jobs;
  pthread_t th[64];
  int started = 0;
  for (int j = 0; j < jobs; j++)
    if (pthread_create(&th[j], NULL, worker, &st) == 0)
      started++;
  for (int j = 0; j < started; j++)
    pthread_join(th[j], NULL);
  int rc = 0;
  if (started == 0) {
    snprintf(errbuf, errlen, "cannot start a rendering thread");
    rc = -1;
  } else if (st.fatal) {
    snprintf(errbuf, errlen, "%s", st.fatal_msg);
    rc = -1;
  } else {
    rc = write_indexes(o, &st, errbuf, errlen);
  }
  if (rc == 0 && o->verbose) {
    double el = now_s() - st.t_start;
    fprintf(stderr,
            "instrid-render: %zu pieces, %.2f h of audio in %.1f s (%.0fx real time, %d jobs); "
            "%zu draws skipped",
            st.done, st.audio_s_done / 3600.0, el, el > 0 ? st.audio_s_done / el : 0.0, jobs,
            st.failed_draws);
    if (o->options.synth_prob > 0)
      fprintf(stderr, "; %zu pieces with a part played by the built-in synthesizer",
              st.synth_pieces);
    fputc('\n', stderr);
  }
  pthread_mutex_destroy(&st.lock);
  free(st.tasks);
  return rc;
}

/* --notes: n OpenMIC-layout clips of one note each. */
static int notes_render(const corpus_options *opt, char *errbuf, size_t errlen);

int corpus_render(const corpus_options *opt, char *errbuf, size_t errlen)
{
  if (opt->notes > 0)
    return notes_render(opt, errbuf, errlen);
  if (opt->n_midi == 0) {
    snprintf(errbuf, errlen, "no MIDI files to render");
    return -1;
  }
  /* Read every MIDI file once up front: one that cannot be read is reported once (also when
   * quiet) and left out, instead of failing every draw that picks it, which with many bad
   * files could end the run with "8 draws in a row failed" although good files remain. */
  char **usable = malloc(opt->n_midi * sizeof(*usable));
  size_t n_usable = 0;
  if (!usable) {
    snprintf(errbuf, errlen, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < opt->n_midi; i++) {
    char err[512];
    smf_song *song = smf_read_file(opt->midi_files[i], err, sizeof(err));
    if (!song) {
      fprintf(stderr, "instrid-render: skipping %s\n", err);
      continue;
    }
    smf_song_free(song);
    usable[n_usable++] = opt->midi_files[i];
  }
  if (n_usable == 0) {
    snprintf(errbuf, errlen, "none of the %zu MIDI files could be read", opt->n_midi);
    free(usable);
    return -1;
  }
  size_t n_mn = 0, n_om = 0;
  double mn_excerpt = opt->musicnet_excerpt_s;
  if (opt->hours > 0) {
    double total = opt->hours * 3600.0;
    double share = opt->musicnet && opt->openmic ? opt->openmic_share : opt->openmic ? 1.0 : 0.0;
    if (mn_excerpt <= 0)
      mn_excerpt = 30.0; /* whole songs have unknown lengths: --hours needs excerpts */
    if (opt->musicnet)
      n_mn = (size_t)ceil(total * (1.0 - share) / mn_excerpt);
    if (opt->openmic)
      n_om = (size_t)ceil(total * share / opt->clip_s);
  } else {
    size_t n = opt->pieces ? opt->pieces : n_usable;
    n_mn = opt->musicnet ? n : 0;
    n_om = opt->openmic ? n : 0;
  }
  corpus_options o = *opt;
  o.musicnet_excerpt_s = mn_excerpt;
  o.midi_files = usable;
  o.n_midi = n_usable;
  int rc = run_tasks(&o, n_mn, n_om, errbuf, errlen);
  free(usable);
  return rc;
}

static int notes_render(const corpus_options *opt, char *errbuf, size_t errlen)
{
  corpus_options o = *opt;
  o.musicnet = 0;
  o.openmic = 1;
  o.midi_files = NULL;
  o.n_midi = 0;
  return run_tasks(&o, 0, opt->notes, errbuf, errlen);
}
