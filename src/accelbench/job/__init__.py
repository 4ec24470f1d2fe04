"""The four-stage main job (`accelbench run`), walking a user from peak TOPS to their model.

plan.py lays out and checks the configurations before anything runs; execute.py runs them and
stores records and the run summary; stages.py states each stage's lesson in numbers; ranking.py
ranks measured configurations beside projected catalog devices (and holds the one Spearman).
"""
