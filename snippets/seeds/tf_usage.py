"""Seed snippets: typical tensorflow calls, written for seamfuzz.

This file is mined (read statically), never run by seamfuzz.
"""

import math

import numpy as np
import tensorflow as tf

x = tf.random.normal([4, 6])
half = tf.random.normal([8, 16], dtype=tf.float16)
ints = tf.constant([[1, -2, 3], [-4, 5, -6]])
special = tf.constant([0.0, -0.0, 1.0, -1.0, float("inf"), -math.inf, float("nan")])

tf.math.cumsum(x, axis=1)
tf.math.cumprod(x, axis=0, exclusive=True)
tf.reduce_logsumexp(half, axis=1)
tf.nn.softmax(x, axis=-1)
tf.nn.log_softmax(x)
tf.math.reduce_variance(x, axis=1)
tf.reduce_max(special)
tf.math.reduce_euclidean_norm(x, axis=0)
tf.clip_by_value(special, -1.0, 1.0)
tf.math.sign(special)
tf.math.sqrt(special)
tf.math.floordiv(ints, 3)
tf.math.floormod(ints, 4)
tf.bitwise.bitwise_and(ints, 6)
tf.where(x > 0, x, tf.zeros([4, 6]))
tf.linalg.matmul(x, tf.random.normal([6, 3]))
tf.einsum("ij,jk->ik", x, tf.random.normal([6, 2]))
tf.concat([x, x], axis=0)
tf.reverse(x, axis=[1])
tf.roll(x, shift=2, axis=1)
tf.math.top_k(x, k=3)
tf.sort(x, axis=0, direction="DESCENDING")
tf.math.argmax(x, axis=1)
tf.gather(x, [0, 2], axis=0)
tf.transpose(x, perm=[1, 0])
tf.reshape(x, [3, 8])
tf.math.pow(x, 2.0)
tf.math.erf(half)
tf.math.sigmoid(x)
tf.math.divide_no_nan(x, tf.zeros([4, 6]))
tf.math.segment_sum(tf.constant([1.0, 2.0, 3.0]), tf.constant([0, 0, 1]))
tf.cast(x, tf.int32)
tf.nn.relu6(x)
tf.nn.gelu(x, approximate=True)
tf.nn.l2_normalize(x, axis=1)
tf.image.resize(tf.random.normal([1, 4, 4, 2]), [8, 8], method="bilinear")
tf.nn.avg_pool2d(tf.random.normal([1, 8, 8, 3]), ksize=2, strides=2, padding="VALID")
tf.nn.conv2d(tf.random.normal([1, 8, 8, 3]), tf.random.normal([3, 3, 3, 4]), strides=1,
             padding="SAME")

dense = tf.keras.layers.Dense(3, activation="relu")
dense(x)
tf.keras.layers.LayerNormalization(axis=-1)(x)
tf.keras.layers.Conv2D(4, 3, padding="same")(tf.random.normal([1, 8, 8, 3]))

v = tf.Variable(np.ones((2, 2), dtype=np.float32))
v.assign_add(tf.ones([2, 2]))
