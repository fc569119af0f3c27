/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_synth.c — the renderer's built-in synthesizer (synth.h): every patch family of every
 * class renders finite, audible notes within [-1, 1] that end after their release; the
 * fundamental is where the MIDI pitch says; velocity sets level and brightness; the same seed
 * gives the same samples; parts; and render_song with the synthesizer as the only pitched
 * source (descriptions, labels, synth_classes).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "render.h"
#include "synth.h"

#define RATE 44100.0

static double midi_hz(int pitch)
{
  return 440.0 * pow(2.0, (pitch - 69) / 12.0);
}

/* |DFT| of x[0..n) at hz, Hann-windowed (the complex exponential by rotation). */
static double magnitude(const float *x, size_t n, double hz)
{
  double re = 0.0, im = 0.0, w = 2.0 * M_PI * hz / RATE, c = cos(w), s = -sin(w);
  double hw = 2.0 * M_PI / (double)(n - 1), hc = cos(hw), hs = sin(hw);
  double pr = 1.0, pi = 0.0, wr = 1.0, wi = 0.0; /* e^{-j w i} and e^{j hw i} */
  for (size_t i = 0; i < n; i++) {
    double hann = 0.5 - 0.5 * wr;
    re += hann * x[i] * pr;
    im += hann * x[i] * pi;
    double t = pr * c - pi * s;
    pi = pr * s + pi * c;
    pr = t;
    t = wr * hc - wi * hs;
    wi = wr * hs + wi * hc;
    wr = t;
  }
  return sqrt(re * re + im * im);
}

/* The frequency of the largest |DFT| within [lo, hi]: 0.5% steps, then 0.05% steps around the
 * best; *mag its magnitude. */
static double peak_between(const float *x, size_t n, double lo, double hi, double *mag)
{
  double best = -1.0, best_hz = lo;
  for (double hz = lo; hz <= hi; hz *= 1.005) {
    double m = magnitude(x, n, hz);
    if (m > best) {
      best = m;
      best_hz = hz;
    }
  }
  double centre = best_hz;
  for (double hz = centre / 1.005; hz <= centre * 1.005; hz *= 1.0005) {
    double m = magnitude(x, n, hz);
    if (m > best) {
      best = m;
      best_hz = hz;
    }
  }
  *mag = best;
  return best_hz;
}

/* Spectral centroid of x[0..n) over 50 Hz .. 10 kHz (for brightness). */
static double centroid(const float *x, size_t n)
{
  double num = 0.0, den = 0.0;
  for (double hz = 50.0; hz < 10000.0; hz *= 1.02) {
    double m = magnitude(x, n, hz);
    num += m * hz;
    den += m;
  }
  return den > 0 ? num / den : 0.0;
}

/* Every family of every class: finite, within [-1, 1], audible, peak by velocity, silent at the
 * end of its release, as many frames as synth_note_frames says. */
static void test_families(void)
{
  size_t cap = (size_t)(6.0 * RATE);
  float *x = malloc(cap * sizeof(float));
  int n_classes = 0, n_families = 0;
  for (int c = 0; c < TAXONOMY_N; c++) {
    if (!synth_can_play(c)) {
      CHECK(synth_n_families(c) == 0, "%s: families without being playable", instrid_taxonomy[c]);
      continue;
    }
    n_classes++;
    const render_class *rc = &render_classes[c];
    for (int f = 0; f < synth_n_families(c); f++) {
      n_families++;
      for (int seed = 0; seed < 3; seed++) {
        splitmix_rng r = splitmix_derive(11, (uint64_t)(c * 100 + f * 10 + seed));
        synth_patch p;
        CHECK(synth_patch_draw(&p, c, f, &r) == 0, "%s/%d: draw", instrid_taxonomy[c], f);
        CHECK(strcmp(p.family, synth_family_name(c, f)) == 0, "family name %s", p.family);
        int pitch = seed == 0 ? rc->lo : seed == 1 ? (rc->lo + rc->hi) / 2 : rc->hi;
        int vel = seed == 2 ? 30 : 110;
        size_t want = synth_note_frames(&p, 1.0, RATE);
        size_t n = synth_note(&p, pitch, vel, 1.0, RATE, 5 + (uint64_t)seed, x, cap);
        CHECK(n == want && n > RATE, "%s %s: %zu frames, want %zu", instrid_taxonomy[c], p.family,
              n, want);
        double peak = 0.0, e = 0.0;
        int finite = 1;
        for (size_t i = 0; i < n; i++) {
          finite &= isfinite(x[i]);
          peak = fmax(peak, fabs(x[i]));
          if (i < (size_t)RATE)
            e += (double)x[i] * x[i];
        }
        double rms = sqrt(e / RATE), want_peak = 0.3 + 0.6 * vel / 127.0;
        CHECK(finite, "%s %s: non-finite samples", instrid_taxonomy[c], p.family);
        CHECK(fabs(peak - want_peak) < 1e-3, "%s %s pitch %d: peak %.4f, want %.4f",
              instrid_taxonomy[c], p.family, pitch, peak, want_peak);
        CHECK(rms > 0.02, "%s %s pitch %d: RMS %.4f over the first second", instrid_taxonomy[c],
              p.family, pitch, rms);
        /* the last tenth of the release (which reaches -60 dB at its end, from -54 dB): below
         * -40 dB of the peak */
        double tail = 0.0;
        for (size_t i = n - 1 - (size_t)(0.1 * p.release_s * RATE); i < n; i++)
          tail = fmax(tail, fabs(x[i]));
        CHECK(tail < 0.01 * peak, "%s %s: %.4f at the end of the release (peak %.3f)",
              instrid_taxonomy[c], p.family, tail, peak);
      }
    }
  }
  /* 18 classes; 2+2+1+3+4+2+1+1*3+1*3+4+3 families */
  CHECK(n_classes == 18 && n_families == 28, "%d classes, %d families", n_classes, n_families);
  splitmix_rng r = splitmix_derive(1, 1);
  synth_patch p;
  CHECK(synth_patch_draw(&p, TAX_DRUMS, -1, &r) == -1, "drums drawn");
  CHECK(synth_patch_draw(&p, TAX_BANJO, -1, &r) == -1, "banjo drawn");
  CHECK(synth_patch_draw(&p, TAX_FLUTE, 2, &r) == -1, "a third flute family");
  CHECK(synth_note(&p, 128, 100, 1.0, RATE, 1, x, cap) == 0, "pitch 128 rendered");
  free(x);
}

/* The fundamental of sustained families within 1.5% of the pitch's frequency, at three
 * pitches of the class's range, and no stronger component an octave below. Vibrato, drift and
 * the rotary pitch are off (their centre is the pitch, but a 0.3-s DFT sees their sidebands);
 * the organ's sub-octave drawbars (16', 5 1/3') too, which sound an octave below as on a real
 * organ. FM bells are inharmonic and not checked. */
static void test_pitch(void)
{
  size_t cap = (size_t)(3.0 * RATE);
  float *x = malloc(cap * sizeof(float));
  int checked = 0;
  for (int c = 0; c < TAXONOMY_N; c++) {
    const render_class *rc = &render_classes[c];
    for (int f = 0; f < synth_n_families(c); f++) {
      if (strcmp(synth_family_name(c, f), "fm_bell") == 0)
        continue;
      for (int k = 0; k < 3; k++) {
        splitmix_rng r = splitmix_derive(23, (uint64_t)(c * 100 + f * 10 + k));
        synth_patch p;
        synth_patch_draw(&p, c, f, &r);
        p.vib_depth = p.drift = p.rotary = 0.0;
        for (int i = 0; i < p.n_partials; i++)
          if (p.ratio[i] != floor(p.ratio[i]) && p.ratio[i] < 2.0)
            p.amp[i] = 0.0;
        int pitch = rc->lo + (rc->hi - rc->lo) * (k + 1) / 4;
        double hz = midi_hz(pitch), m1, m_sub, m_h = 0.0;
        synth_note(&p, pitch, 100, 2.0, RATE, 3, x, cap);
        const float *w = x + (size_t)(0.25 * RATE);       /* past the attack */
        size_t n = (size_t)(fmax(0.3, 40.0 / hz) * RATE); /* 40 periods at least */
        double found = peak_between(w, n, hz * 0.9, hz * 1.1, &m1);
        peak_between(w, n, hz * 0.45, hz * 0.55, &m_sub);
        for (int h = 2; h <= 8 && h * hz < 0.45 * RATE; h++) {
          double m;
          peak_between(w, n, h * hz * 0.98, h * hz * 1.02, &m);
          m_h = fmax(m_h, m);
        }
        CHECK(fabs(found / hz - 1.0) < 0.015, "%s %s pitch %d: peak at %.2f Hz, want %.2f",
              instrid_taxonomy[c], p.family, pitch, found, hz);
        CHECK(m1 > m_h / 30.0, "%s %s pitch %d: fundamental %.3g, a harmonic %.3g",
              instrid_taxonomy[c], p.family, pitch, m1, m_h);
        CHECK(m_sub < 0.1 * m1, "%s %s pitch %d: %.3g an octave below, fundamental %.3g",
              instrid_taxonomy[c], p.family, pitch, m_sub, m1);
        checked++;
      }
    }
  }
  CHECK(checked == 3 * 27, "%d notes checked", checked);
  free(x);
}

/* Same seed, same samples; another seed or another draw of the patch, other samples. Velocity:
 * a soft note is darker than a loud one (subtractive filter, FM index, additive tilt). */
static void test_determinism_velocity(void)
{
  size_t cap = (size_t)(2.0 * RATE);
  float *a = malloc(cap * sizeof(float)), *b = malloc(cap * sizeof(float));
  splitmix_rng r1 = splitmix_derive(5, 0), r2 = splitmix_derive(5, 0), r3 = splitmix_derive(5, 1);
  synth_patch p1, p2, p3;
  synth_patch_draw(&p1, TAX_SYNTHESIZER, -1, &r1);
  synth_patch_draw(&p2, TAX_SYNTHESIZER, -1, &r2);
  synth_patch_draw(&p3, TAX_SYNTHESIZER, 0, &r3);
  CHECK(memcmp(&p1, &p2, sizeof(p1)) == 0, "the same draw gave two patches");
  size_t na = synth_note(&p1, 60, 90, 1.0, RATE, 42, a, cap);
  size_t nb = synth_note(&p2, 60, 90, 1.0, RATE, 42, b, cap);
  CHECK(na == nb && memcmp(a, b, na * sizeof(float)) == 0, "same seed, other samples");
  nb = synth_note(&p1, 60, 90, 1.0, RATE, 43, b, cap);
  CHECK(na == nb && memcmp(a, b, na * sizeof(float)) != 0, "another seed, the same samples");
  static const char *families[] = {"analog_bass", "fm_epiano", "additive_piano", "plucked"};
  static const int classes[] = {TAX_BASS, TAX_PIANO, TAX_PIANO, TAX_GUITAR};
  for (int i = 0; i < 4; i++) {
    int f = 0;
    while (strcmp(synth_family_name(classes[i], f), families[i]) != 0)
      f++;
    splitmix_rng r = splitmix_derive(9, (uint64_t)i);
    synth_patch p;
    synth_patch_draw(&p, classes[i], f, &r);
    if (p.engine == SYNTH_SUB) /* a filter that opens with velocity */
      p.cutoff = 3.0;
    size_t n = (size_t)(0.3 * RATE);
    synth_note(&p, 48, 25, 1.0, RATE, 1, a, cap);
    synth_note(&p, 48, 127, 1.0, RATE, 1, b, cap);
    double soft = centroid(a + 441, n), loud = centroid(b + 441, n);
    CHECK(loud > soft * 1.1, "%s: centroid %.0f Hz at velocity 127, %.0f at 25", families[i], loud,
          soft);
  }
  free(a);
  free(b);
}

/* A part: notes added to both channels where they start, a skipped note (end_s < 0) silent. */
static void test_part(void)
{
  size_t frames = (size_t)(3.0 * RATE);
  float *stem = calloc(2 * frames, sizeof(float));
  smf_note notes[3] = {{0.5, 1.0, 1.0, 1.0, 60, 100},
                       {-1.0, -1.0, 0.0, 1.0, 64, 100},
                       {1.5, 2.0, 3.0, 1.0, 67, 100}};
  uint8_t played[3];
  char err[128];
  splitmix_rng r = splitmix_derive(3, 3);
  synth_patch p;
  synth_patch_draw(&p, TAX_ORGAN, 0, &r);
  CHECK(synth_render_part(&p, notes, 3, stem, frames, (int)RATE, 7, played, err, sizeof err) == 0,
        "part: %s", err);
  CHECK(played[0] && !played[1] && played[2], "played %d %d %d", played[0], played[1], played[2]);
  double before = 0.0, during = 0.0, same = 1;
  for (size_t i = 0; i < frames; i++) {
    same = same && stem[2 * i] == stem[2 * i + 1];
    if (i < (size_t)(0.5 * RATE))
      before = fmax(before, fabs(stem[2 * i]));
    else if (i < (size_t)(1.0 * RATE))
      during = fmax(during, fabs(stem[2 * i]));
  }
  CHECK(same, "channels differ");
  CHECK(before == 0.0 && during > 0.3, "before the first note %.3f, during %.3f", before, during);
  free(stem);
}

/* render_song with the synthesizer as the only pitched source: the example's piano, violin and
 * flute parts are played by it (its drums by nothing: no kit), labelled as their classes. */
static void test_render_song(void)
{
  char err[256];
  render_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.rate_hz = 44100;
  render_engine *eng = render_engine_new(&cfg, err, sizeof(err));
  smf_song *song = render_example_song();
  CHECK(eng && song, "engine: %s", err);
  if (!eng || !song) {
    render_engine_free(eng);
    smf_song_free(song);
    return;
  }
  render_options opt;
  render_options_as_written(&opt, SOURCE_SYNTH);
  render_piece pc;
  CHECK(render_song(eng, song, &opt, 1, &pc, err, sizeof(err)) != 0,
        "rendered without a source (synth_prob 0)");
  opt.synth_prob = 1.0;
  CHECK(render_song(eng, song, &opt, 1, &pc, err, sizeof(err)) == 0, "render: %s", err);
  uint32_t want = (1u << TAX_PIANO) | (1u << TAX_VIOLIN) | (1u << TAX_FLUTE);
  CHECK(pc.synth_classes == want, "synth_classes %#x, want %#x", pc.synth_classes, want);
  CHECK(strstr(pc.description, "piano[synth ") && strstr(pc.description, "violin[synth bowed]") &&
            strstr(pc.description, "flute[synth "),
        "description '%s'", pc.description);
  uint32_t labelled = 0;
  for (size_t i = 0; i < pc.n_labels; i++)
    labelled |= 1u << pc.labels[i].cls;
  CHECK(labelled == want, "labels of classes %#x", labelled);
  CHECK(pc.first_program == -1, "first_program %d", pc.first_program);
  double peak = 0.0;
  for (size_t i = 0; i < 2 * pc.frames; i++)
    peak = fmax(peak, fabs(pc.audio[i]));
  CHECK(peak > 0.5 && peak <= 1.0, "mix peak %.3f", peak);
  render_piece_clear(&pc);
  smf_song_free(song);
  render_engine_free(eng);
}

int main(void)
{
  test_families();
  test_pitch();
  test_determinism_velocity();
  test_part();
  test_render_song();
  return check_exit();
}
