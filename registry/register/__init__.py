"""The public register: anyone may check that a named person holds a registered certificate."""
