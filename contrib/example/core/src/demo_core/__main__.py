from demo_core import describe

print(describe())
