# Turns text files into one C string constant:
#   cmake -DIN=a.lua,b.lua -DOUT=x.c -DVAR=name [-DHEAD=line] [-DTEXT=x.lua]
#         [-DVERSION_VAR=name] [-DBUMP_MINOR=1] -P embed.cmake
# IN: comma-separated files joined in order (after the line HEAD, if given);
# TEXT: also write the joined text there (for tests and operators);
# VERSION_VAR: also define that constant as the version the text declares
# in a line "local VERSION = 'M.m'" (the build fails when there is none);
# BUMP_MINOR: declare the next minor instead, M.(m+1) (only the test build of
# a changed library does, tests/upgrade/).
string(REPLACE "," ";" files "${IN}")
set(text "")
if(DEFINED HEAD)
  string(APPEND text "${HEAD}\n")
endif()
foreach(f ${files})
  file(READ ${f} part)
  string(APPEND text "${part}")
endforeach()
if(BUMP_MINOR)
  string(REGEX MATCH "\nlocal VERSION = '([0-9]+)\\.([0-9]+)'" found "${text}")
  if(NOT found)
    message(FATAL_ERROR "${IN}: no line local VERSION = 'major.minor' to bump")
  endif()
  math(EXPR next "${CMAKE_MATCH_2} + 1")
  string(REPLACE "${found}" "\nlocal VERSION = '${CMAKE_MATCH_1}.${next}'" text "${text}")
endif()
if(NOT DEFINED TEXT)
  set(TEXT ${OUT}.txt)
endif()
file(WRITE ${TEXT} "${text}")
file(READ ${TEXT} content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
set(c "/* generated from ${IN} */\nconst char ${VAR}[] = {${bytes} 0x00};\n")
if(DEFINED VERSION_VAR)
  string(REGEX MATCH "\nlocal VERSION = '([0-9]+\\.[0-9]+)'" found "${text}")
  if(NOT found)
    message(FATAL_ERROR "${IN}: no line local VERSION = 'major.minor'")
  endif()
  string(APPEND c "const char ${VERSION_VAR}[] = \"${CMAKE_MATCH_1}\";\n")
endif()
file(WRITE ${OUT} "${c}")
