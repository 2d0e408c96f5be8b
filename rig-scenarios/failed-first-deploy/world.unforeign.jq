.instances |= del(.["i-0f0f0f0f0f0f0f0f0"])
