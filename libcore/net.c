/* net.c — runs a loaded model's inference plan on one window: two ping-pong activation
 * buffers and one im2col scratch, allocated once per instrid_net, nothing allocated per window.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "layers.h"
#include "model_internal.h"

struct instrid_net {
  const instrid_model *model;
  float *act[2];             /* (max_activation) each: a step reads one and writes the other */
  float *scratch;            /* im2col of the largest convolution that needs one */
  instrid_conv_geom *geoms;  /* n_steps, filled for CONV2D steps */
  size_t n_outputs;          /* C*H*W of the last step: the model's n_classes */
};

static void conv_geom_from_step(const instrid_step *s, instrid_conv_geom *g)
{
  const uint32_t *p = s->layer.p;
  memset(g, 0, sizeof *g);
  g->n = 1;
  g->c_in = (int)s->in.c;
  g->h_in = (int)s->in.h;
  g->w_in = (int)s->in.w;
  g->c_out = (int)p[0];
  g->kh = (int)p[1];
  g->kw = (int)p[2];
  g->sh = (int)p[3];
  g->sw = (int)p[4];
  g->ph = (int)p[5];
  g->pw = (int)p[6];
  g->dh = (int)p[7];
  g->dw = (int)p[8];
  g->groups = (int)p[9];
}

static int conv_needs_im2col(const instrid_conv_geom *g)
{
  return !(g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0);
}

instrid_net *instrid_net_new(const instrid_model *model, instrid_error *err)
{
  if (!model) {
    instrid_set_error(err, INSTRID_ERR_INVALID_ARG, "instrid_net_new: model is NULL");
    return NULL;
  }
  if (model->n_steps == 0) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "model has no layers");
    return NULL;
  }
  instrid_net *net = calloc(1, sizeof *net);
  if (!net)
    goto nomem;
  net->model = model;
  net->geoms = calloc(model->n_steps, sizeof *net->geoms);
  if (!net->geoms)
    goto nomem;

  size_t scratch = 0;
  for (uint32_t i = 0; i < model->n_steps; i++) {
    const instrid_step *s = &model->steps[i];
    if (s->layer.type != INSTRID_LAYER_CONV2D)
      continue;
    instrid_conv_geom *g = &net->geoms[i];
    conv_geom_from_step(s, g);
    if (!instrid_conv_geom_init(g) || (uint32_t)g->h_out != s->out.h ||
        (uint32_t)g->w_out != s->out.w || (uint32_t)g->c_out != s->out.c) {
      instrid_set_error(err, INSTRID_ERR_FORMAT, "step %u: convolution geometry inconsistent",
                        i);
      goto fail;
    }
    if (conv_needs_im2col(g)) {
      size_t need = instrid_conv_scratch_floats(g);
      if (need == SIZE_MAX)
        goto nomem;
      if (need > scratch)
        scratch = need;
    }
  }
  const instrid_shape last = model->steps[model->n_steps - 1].out;
  net->n_outputs = (size_t)last.c * last.h * last.w;
  if (net->n_outputs != model->desc.n_classes) {
    instrid_set_error(err, INSTRID_ERR_FORMAT, "network outputs %zu values for %u classes",
                      net->n_outputs, model->desc.n_classes);
    goto fail;
  }

  for (int b = 0; b < 2; b++) {
    net->act[b] = instrid_alloc_floats(model->max_activation);
    if (!net->act[b])
      goto nomem;
  }
  net->scratch = instrid_alloc_floats(scratch);
  if (!net->scratch)
    goto nomem;
  return net;

nomem:
  instrid_set_error(err, INSTRID_ERR_NOMEM, "out of memory allocating network buffers");
fail:
  instrid_net_free(net);
  return NULL;
}

void instrid_net_free(instrid_net *net)
{
  if (!net)
    return;
  instrid_free_aligned(net->act[0]);
  instrid_free_aligned(net->act[1]);
  instrid_free_aligned(net->scratch);
  free(net->geoms);
  free(net);
}

/* Adds a per-channel bias to x (C, HW), and clamps at zero when a ReLU follows: one pass over
 * the convolution's output while it is still in cache, instead of two. */
static void bias_act(float *x, int c, size_t hw, const float *bias, int relu)
{
  for (int ch = 0; ch < c; ch++) {
    float b = bias ? bias[ch] : 0.0f;
    float *p = x + (size_t)ch * hw;
    if (relu) {
      for (size_t i = 0; i < hw; i++) {
        float v = p[i] + b;
        p[i] = v > 0.0f ? v : 0.0f;
      }
    } else {
      for (size_t i = 0; i < hw; i++)
        p[i] += b;
    }
  }
}

void instrid_net_forward(instrid_net *net, const float *features, float *probabilities)
{
  const instrid_model *m = net->model;
  const size_t n_in = (size_t)m->input.c * m->input.h * m->input.w;
  /* features (n_mels, W) is the input activation (1, n_mels, W) as it is; it is copied so that
   * in-place steps never write to the caller's memory. */
  memcpy(net->act[0], features, sizeof(float) * n_in);
  int cur = 0;

  for (uint32_t i = 0; i < m->n_steps; i++) {
    const instrid_step *s = &m->steps[i];
    const uint32_t *p = s->layer.p;
    float *x = net->act[cur], *y = net->act[cur ^ 1];
    const size_t out_n = (size_t)s->out.c * s->out.h * s->out.w;
    const int relu_next =
        i + 1 < m->n_steps && m->steps[i + 1].layer.type == INSTRID_LAYER_RELU;

    switch (s->layer.type) {
    case INSTRID_LAYER_CONV2D:
      instrid_conv2d_forward(&net->geoms[i], x, s->weight, NULL, y, net->scratch);
      bias_act(y, (int)s->out.c, (size_t)s->out.h * s->out.w, s->bias, relu_next);
      cur ^= 1;
      i += relu_next;
      break;
    case INSTRID_LAYER_DENSE:
      instrid_dense_forward(1, (int)((size_t)s->in.c * s->in.h * s->in.w), (int)p[0], x,
                            s->weight, s->bias, y);
      if (relu_next)
        instrid_relu_forward(y, out_n);
      cur ^= 1;
      i += relu_next;
      break;
    case INSTRID_LAYER_BATCHNORM: /* not folded: weight = scale, bias = shift */
      for (uint32_t ch = 0; ch < s->in.c; ch++) {
        float *q = x + (size_t)ch * s->in.h * s->in.w;
        for (size_t k = 0; k < (size_t)s->in.h * s->in.w; k++)
          q[k] = q[k] * s->weight[ch] + s->bias[ch];
      }
      break;
    case INSTRID_LAYER_RELU:
      instrid_relu_forward(x, out_n);
      break;
    case INSTRID_LAYER_SIGMOID:
      instrid_sigmoid_forward(x, out_n);
      break;
    case INSTRID_LAYER_MAXPOOL:
    case INSTRID_LAYER_AVGPOOL:
      instrid_pool2d_forward(s->layer.type == INSTRID_LAYER_MAXPOOL ? INSTRID_POOL_MAX
                                                                    : INSTRID_POOL_MEAN,
                             1, (int)s->in.c, (int)s->in.h, (int)s->in.w, (int)p[0], (int)p[1],
                             (int)p[2], (int)p[3], x, y, NULL);
      cur ^= 1;
      break;
    case INSTRID_LAYER_GLOBAL_POOL:
      instrid_global_pool_forward((int)p[0], (int)p[1], 1, (int)s->in.c, (int)s->in.h,
                                  (int)s->in.w, x, y, NULL);
      cur ^= 1;
      break;
    default: /* DROPOUT: identity at inference (the loader drops it anyway) */
      break;
    }
  }
  memcpy(probabilities, net->act[cur], sizeof(float) * net->n_outputs);
}

double instrid_net_flops(const instrid_model *model)
{
  double flops = 0.0;
  for (uint32_t i = 0; i < model->n_steps; i++) {
    const instrid_step *s = &model->steps[i];
    const uint32_t *p = s->layer.p;
    if (s->layer.type == INSTRID_LAYER_CONV2D) {
      double k = (double)(s->in.c / (p[9] ? p[9] : 1)) * p[1] * p[2];
      flops += 2.0 * k * s->out.c * s->out.h * s->out.w;
    } else if (s->layer.type == INSTRID_LAYER_DENSE) {
      flops += 2.0 * (double)s->in.c * s->in.h * s->in.w * p[0];
    }
  }
  return flops;
}
