"""Retrieval quality and speed of the embedding models: MiniLM (ONNX) against the static model.

    .venv/bin/python bench/embedding_quality.py

The paraphrase set below was written for this project (50 pairs in the register of a persona's
memories and a user's questions; no public data set). Each first sentence is a query and the
50 second sentences are the corpus: a query is answered right when its own paraphrase ranks
first. Prints recall@1, recall@5 and MRR per model, and the embedding rate of single queries
and of batches of 256. The static model must be distilled first
(``manage.py distill_static_embeddings``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PAIRS = [
    ("Bob still owes me three silver coins.", "The traveller Bob never paid back the money he borrowed."),
    ("My sister moved to the coast last winter.", "Last winter my sibling went to live by the sea."),
    ("The blacksmith's name is Gorm.", "Gorm is the man who works the forge."),
    ("A storm flooded the cellar in spring.", "Water filled the basement after the spring gale."),
    ("I am afraid of deep water.", "Swimming far from shore terrifies me."),
    ("The mayor hid the harvest records.", "The town's leader concealed the crop accounts."),
    ("Mara loves songs about the old kings.", "Ballads of ancient monarchs are Mara's favourite."),
    ("The bridge toll doubled this year.", "Crossing the bridge now costs twice as much as before."),
    ("My father taught me to read the stars.", "I learned astronomy from my dad."),
    ("The red horse went lame on the road to town.", "On the way to town the chestnut mare started limping."),
    ("Captain Vell lost his ship in a card game.", "Vell gambled away his vessel at cards."),
    ("I dislike people who interrupt me.", "Being cut off mid-sentence annoys me."),
    ("The priest keeps a key to the crypt.", "The old cleric holds the key to the tomb beneath the church."),
    ("We celebrated the festival with fireworks.", "Rockets lit the sky during our holiday celebration."),
    ("The well in the square has gone dry.", "There is no more water in the village fountain."),
    ("A stranger asked about the map of the coast.", "Someone I didn't know wanted to know about the coastal chart."),
    ("I broke my arm falling from the mill roof.", "My arm fractured when I fell off the top of the mill."),
    ("The innkeeper waters down the wine.", "The tavern owner dilutes the drinks he sells."),
    ("I promised to visit the lighthouse keeper.", "I gave my word that I would call on the man who tends the lighthouse."),
    ("The guard sleeps during the night watch.", "The sentry dozes off when he should be on duty at night."),
    ("My favourite food is apple pie.", "Nothing beats a slice of apple tart for me."),
    ("The miller's daughter can read and write.", "The girl from the mill is literate."),
    ("Wolves were seen near the northern farms.", "People spotted a pack of wolves close to the farmsteads in the north."),
    ("I sold my grandmother's ring to pay the rent.", "To cover my lodging I had to part with my gran's ring."),
    ("The bard sings badly but loudly.", "The minstrel has a terrible voice and no shame about volume."),
    ("Letters from the north arrive every month.", "Each month brings mail from the northern provinces."),
    ("The old lantern belonged to my mother.", "That antique lamp was my mum's."),
    ("The harbour is closed because of the fog.", "No boats can leave port while the mist is this thick."),
    ("I want to become a healer one day.", "My dream is to work as a doctor someday."),
    ("The children found a wooden sword in the river.", "Some kids pulled a toy blade out of the stream."),
    ("Prices at the market went up after the drought.", "Since the dry spell, everything at the stalls costs more."),
    ("The tailor finished my wedding coat.", "My jacket for the marriage ceremony is ready at the dressmaker's."),
    ("I have never been further than the next valley.", "I've not travelled beyond the neighbouring dale."),
    ("The tower bell rings at dawn and dusk.", "Twice a day, at sunrise and sunset, the belfry chimes."),
    ("The cat sleeps on the warm hearth.", "Our kitten naps beside the fire."),
    ("I lost the tavern keys during the dance.", "While dancing I misplaced the keys to the inn."),
    ("The baker gives free bread to orphans.", "Children without parents get loaves from the bakery at no cost."),
    ("Smoke rose from the forest last night.", "Yesterday evening we saw a fire burning in the woods."),
    ("My brother joined the king's army.", "My sibling enlisted as a soldier for the crown."),
    ("The library burned down years ago.", "A fire destroyed the book hall a long time back."),
    ("I can't sleep when it thunders.", "Storms keep me awake all night."),
    ("The merchant cheated me on the price of salt.", "That trader overcharged me for salt."),
    ("The ferryman only takes copper coins.", "You must pay the boatman in copper."),
    ("Snow blocked the mountain pass for weeks.", "For weeks nobody could cross the peaks because of the snow."),
    ("I keep my savings under the floorboards.", "My money is hidden beneath the planks of my floor."),
    ("The healer says my cough will pass.", "According to the doctor my illness isn't serious."),
    ("The twins argue about everything.", "Those two siblings born together never agree."),
    ("A letter came saying my uncle died.", "I received news by post that my uncle had passed away."),
    ("The road to the capital is full of bandits.", "Robbers make travelling to the big city dangerous."),
    ("I planted roses beside the chapel.", "I grew a rose bed next to the little church."),
]  # fmt: skip


def quality(vectors_q, vectors_c) -> dict:
    import numpy as np

    sims = vectors_q @ vectors_c.T
    ranks = [int((sims[i] > sims[i, i]).sum()) + 1 for i in range(len(sims))]
    return {
        "recall_at_1": float(np.mean([r == 1 for r in ranks])),
        "recall_at_5": float(np.mean([r <= 5 for r in ranks])),
        "mrr": float(np.mean([1.0 / r for r in ranks])),
    }


def speed(encoder, texts: list[str]) -> dict:
    singles = texts[:100]
    encoder.encode(singles[:8], 64)
    t0 = time.perf_counter()
    for t in singles:
        encoder.encode([t], 64)
    one_ms = (time.perf_counter() - t0) / len(singles) * 1000
    batch = (texts * 6)[:256]
    t0 = time.perf_counter()
    encoder.encode(batch, 64)
    per_s = len(batch) / (time.perf_counter() - t0)
    return {"query_ms": one_ms, "batch_per_s": per_s}


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "personamcp.settings")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from memory import embeddings

    queries = [q for q, _ in PAIRS]
    corpus = [c for _, c in PAIRS]
    texts = queries + corpus
    models = {"all-MiniLM-L6-v2 (ONNX)": embeddings._get()}
    folder = embeddings.static_dir()
    if (folder / "model.safetensors").exists():
        models["static (model2vec from MiniLM)"] = embeddings._StaticEncoder(folder)
    else:
        print(f"no static model in {folder}: run manage.py distill_static_embeddings")
    print(f"paraphrase set: {len(PAIRS)} pairs written for this project; corpus = 50 paraphrases")
    header = f"{'model':<32}{'R@1':>7}{'R@5':>7}{'MRR':>7}{'query ms':>10}{'batch/s':>10}"
    print(header)
    print("-" * len(header))
    results = {}
    for name, encoder in models.items():
        q = encoder.encode(queries, 64)
        c = encoder.encode(corpus, 64)
        row = {**quality(q, c), **speed(encoder, texts)}
        results[name] = row
        print(
            f"{name:<32}{row['recall_at_1']:>7.2f}{row['recall_at_5']:>7.2f}{row['mrr']:>7.3f}"
            f"{row['query_ms']:>10.2f}{row['batch_per_s']:>10.0f}"
        )
    print("RESULT " + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
