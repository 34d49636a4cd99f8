#!/usr/bin/env python3
"""Reference numbers for the LLM-Adapters commonsense tasks as Apple's CoreNet scores them.

Transcribes corenet/cli/main_eval_llmadapters.py (main_multiple_choice, evaluate_likelihood,
get_loglikelihood_inputs), corenet/data/datasets/language_modeling/commonsense_170k.py
(generate_prompt_and_response) and lm-eval's HFLM request tokenisation (_encode_pair with add_bos_token=True,
_loglikelihood_tokens) in plain Python, tokenises with SentencePiece and scores with the float64 numpy reference
model (openelm_ref.py). Writes test/fixtures/finetune/llm-adapters-commonsense/expected.json.

Usage: python3 scripts/make_llmadapters_fixture.py PATH/TO/openelm_ref.py
Needs numpy and sentencepiece. Model: assets/models/default; tokenizer: assets/tokenizer/llama2/tokenizer.model.
"""
import importlib.util, json, os, random, re, sys

import numpy as np
import sentencepiece as spm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "test/fixtures/finetune/llm-adapters-commonsense")
TASKS = ["boolq", "piqa", "social_i_qa", "winogrande", "ARC-Easy", "ARC-Challenge", "openbookqa"]


def generate_prompt_and_response(data_point):  # corenet commonsense_170k.py, whitespace as there
    if data_point["input"]:
        return f"""Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request. 

                ### Instruction:
                {data_point["instruction"]}
                
                ### Input:
                {data_point["input"]}
                
                ### Response:
                {data_point["output"]}"""  # noqa: E501
    return f"""Below is an instruction that describes a task. Write a response that appropriately completes the request.  

                ### Instruction:
                {data_point["instruction"]}
                
                ### Response:
                {data_point["output"]}"""  # noqa: E501


def get_loglikelihood_inputs(data):  # main_eval_llmadapters.py
    possible_answers = []
    instruction = data["instruction"]
    instruction_end = instruction.split("\n")[-1]
    if re.match(".*Answer format: true/false", instruction_end):
        possible_answers = ["true", "false"]
    else:
        for word in ["answer", "ending", "option", "solution"]:
            if re.match(rf".*Answer format: .*{word}(\d)$", instruction_end):
                num_answers = int(instruction_end[-1])
                possible_answers = [f"{word}{num}" for num in range(1, num_answers + 1)]
    if len(possible_answers) == 0:
        raise ValueError("Could not find answer type.")
    context = generate_prompt_and_response({"instruction": instruction, "output": "", "input": ""})
    return [(context, f"the correct answer is {a}") for a in possible_answers]


def main(ref_path):
    spec = importlib.util.spec_from_file_location("openelm_ref", ref_path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    model = ref.load_checkpoint(os.path.join(ROOT, "assets/models/default"))
    sp = spm.SentencePieceProcessor(model_file=os.path.join(ROOT, "assets/tokenizer/llama2/tokenizer.model"))
    enc = lambda s: [1] + sp.encode(s)  # LlamaTokenizer with add_bos_token=True

    def encode_pair(context, continuation):  # lm-eval HFLM._encode_pair
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces > 0:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = enc(context + continuation)
        context_enc = enc(context)
        return context_enc, whole[len(context_enc):]

    out = {"format": "llmadapters-corenet-fixture/1", "model": "assets/models/default", "tokenizer": "assets/tokenizer/llama2/tokenizer.model",
           "generated_by": "scripts/make_llmadapters_fixture.py (numpy float64 openelm_ref.py)", "tasks": {}}
    for task in TASKS:
        dataset = json.load(open(os.path.join(DATA, task, "test.json")))
        random.seed(83652)
        random.shuffle(dataset)
        docs, correct, correct_norm = [], 0, 0
        for elem in dataset:
            requests = get_loglikelihood_inputs(elem)
            lls, ids = [], []
            for context, continuation in requests:
                c, k = encode_pair(context, continuation)
                inp = (c + k)[-(2048 + 1):][:-1]
                logits = model.forward(inp)
                lp = ref.log_softmax(logits[len(inp) - len(k):])
                lls.append(float(sum(lp[i, t] for i, t in enumerate(k))))
                ids.append({"context": c, "continuation": k})
            index = int(np.argmax(lls))
            output = requests[index][1].split(" ")[-1]
            norm = [lls[i] / len(requests[i][1]) for i in range(len(requests))]
            output_norm = requests[int(np.argmax(norm))][1].split(" ")[-1]
            correct += output == elem["answer"]
            correct_norm += output_norm == elem["answer"]
            s = sorted(lls)
            docs.append({"instruction": elem["instruction"], "answer": elem["answer"], "context": requests[0][0],
                         "continuations": [r[1] for r in requests], "ids": ids, "loglikelihoods": lls,
                         "output_pred": output, "output_norm_pred": output_norm,
                         "margin": s[-1] - s[-2]})
        out["tasks"][task] = {"acc": correct / len(dataset), "acc_norm": correct_norm / len(dataset), "docs": docs}
    with open(os.path.join(DATA, "expected.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
