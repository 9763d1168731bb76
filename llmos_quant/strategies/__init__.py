"""Built-in strategies (found by the resolver after the user's folders). Copy _template.py to start your own."""
