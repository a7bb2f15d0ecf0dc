"""Recommender (推荐): personalised resource push and the smart mistake notebook (智能错题本)."""
