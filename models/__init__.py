"""TensorFlow models: builders, input pipeline, training, evaluation, gate, export."""
