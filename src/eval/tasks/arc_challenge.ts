// ARC-Challenge (lm-eval `arc_challenge`, allenai/ai2_arc ARC-Challenge test): the ARC-Easy prompt on the hard set.

import { arcTask } from "./arc_easy.js";

export const arcChallenge = arcTask("arc_challenge", "ARC-Challenge", "arc_challenge/arc_challenge_test.llmfoundry.jsonl");
