"""The catalog's domain: reference data, the textbook tree, resources and their editorial review. No I/O."""
