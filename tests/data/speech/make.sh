#!/usr/bin/env bash
# Regenerates speech_set.ulaw: about 3 minutes of varied synthetic speech (voices, languages, rates, pitches,
# levels), G.711 μ-law 8000 Hz mono, to measure the reply guard's false positives. Needs espeak-ng and sox.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
texts=(
  "Hello! Thanks for calling the bakery. How can I help you today?"
  "We open at seven in the morning and close at six in the evening, every day except Sunday."
  "Sure, let me check that for you. One moment please."
  "Your order number is four, seven, two, nine, one. Is there anything else?"
  "I am sorry, I did not catch that. Could you say it again, a little slower?"
  "The croissants are fresh every morning, and the sourdough comes out at noon."
  "Bonjour, merci d'avoir appelé. Comment puis-je vous aider aujourd'hui?"
  "Guten Tag, wir haben heute bis achtzehn Uhr geöffnet."
  "Hola, gracias por llamar. Abrimos a las siete de la mañana."
  "Sixty-six thick thistle sticks, she sells sea shells, shh, psst, fizz, buzz."
  "Yes. No. Maybe. Okay! Absolutely. Great, thank you so much, goodbye!"
  "Ahhh, ooooh, eeeee, mmmmm, hmm, uh-huh, right, right, right."
)
voices=(en-us+f3 en-us+m3 en-gb+f2 en-gb+m1 en-us+f5 en-us+m7 fr+f2 de+m2 es+f4 en-us+whisper en-us+croak en-sc+m4)
i=0
for text in "${texts[@]}"; do
  for variant in 0 1 2; do
    voice=${voices[$(( (i + variant * 5) % ${#voices[@]} ))]}
    rate=$(( 120 + (i * 37 + variant * 53) % 110 ))
    pitch=$(( 20 + (i * 23 + variant * 41) % 70 ))
    gain=$(( -1 - (i * 3 + variant * 5) % 14 ))
    espeak-ng -v "$voice" -s "$rate" -p "$pitch" -w "$tmp/u.wav" "$text"
    sox "$tmp/u.wav" -r 8000 -c 1 -e mu-law -t raw "$tmp/$(printf %03d $i)-$variant.ulaw" \
      highpass 300 lowpass 3400 gain -n "$gain"
  done
  i=$((i + 1))
done
cat "$tmp"/*.ulaw > speech_set.ulaw
rm -r "$tmp"
