#!/usr/bin/env bash
# Regenerates the speech clips the sample sessions are built from (needs espeak-ng and sox,
# from Debian's packages). The clips are committed, so generate.py itself needs neither.
set -euo pipefail
cd "$(dirname "$0")"
say() {  # say NAME VOICE "text"
  espeak-ng -v "$2" -s 165 -w "/tmp/rt-$1.wav" "$3"
  sox "/tmp/rt-$1.wav" -r 24000 -c 1 -b 16 "$1.flac" norm -3
  rm -f "/tmp/rt-$1.wav"
}
say user-order        en-us       "Hi, can you check the status of my order?"
say user-number       en-us       "Sure. It's order four two seven one."
say user-weather      en-us       "What's the weather like in Paris today?"
say user-interrupt    en-us       "Sorry, wait, I meant Lyon."
say user-thanks       en-us       "Great, thank you!"
say assistant-order   en-gb+f3    "Of course. What is your order number?"
say assistant-shipped en-gb+f3    "Thanks. Your order shipped on Monday and should arrive by Thursday."
say assistant-weather en-gb+f3    "It is sunny in Paris today, around twenty degrees, with a light breeze from the west, so a good afternoon for a walk."
say assistant-lyon    en-gb+f3    "In Lyon it is cloudy, around seventeen degrees."
say assistant-welcome en-gb+f3    "You're welcome. Have a nice day!"
say assistant-checking en-gb+f3   "Let me check that for you."
say assistant-forecast en-gb+f3   "In Paris it is sunny, around twenty degrees."
say assistant-still-there en-gb+f3 "Are you still there?"
say translated-order  fr+f3       "Bonjour, pouvez-vous vérifier l'état de ma commande ?"
